"""Each AWS-behaviour rule of `scripts/stack.py` bites: the template with one of its
fixes undone fails the check, naming the rule; the template as it is passes.

Run by scripts/test.sh: `python tests/scripts/template_checks_test.py`.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import stack  # noqa: E402

TEMPLATE = (ROOT / "template.yaml").read_text()

# (what is undone, the text replaced, its replacement, what the check must say)
UNDONE = [
    ("deliver's RecursiveLoop", "      RecursiveLoop: Allow\n", "", "without RecursiveLoop: Allow"),
    ("ingest-cloudwatch's on-failure destination",
     "      EventInvokeConfig:\n        MaximumRetryAttempts: 2\n        DestinationConfig:\n"
     "          OnFailure:\n            Type: SQS\n            Destination: !GetAtt IngestCloudWatchFailuresQueue.Arn\n",
     "", "no on-failure destination"),
    ("the alarm on its failures",
     "          Value: !GetAtt IngestCloudWatchFailuresQueue.QueueName",
     "          Value: !GetAtt AlertsDeadLetterQueue.QueueName", "which no alarm watches"),
    ("the lateness alarm", "MetricName: Lateness", "MetricName: Elsewhere", "Lateness metric"),
    ("the queue-age alarm's replacement", "Namespace: AWS/SQS\n      MetricName: ApproximateNumberOfMessagesVisible\n"
     "      Dimensions:\n        - Name: QueueName\n          Value: !GetAtt DeliveryDeadLetterQueue.QueueName",
     "Namespace: AWS/SQS\n      MetricName: ApproximateAgeOfOldestMessage\n      Dimensions:\n"
     "        - Name: QueueName\n          Value: !GetAtt DeliveryQueue.QueueName", "ApproximateAgeOfOldestMessage"),
    ("FILL in the throttle alarm", "FILL(reads, 0) + FILL(writes, 0)", "reads + writes", "without FILL"),
]


def check(text):
    """What check-template prints of `text`, and whether it passed."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    import io
    from contextlib import redirect_stdout
    out = io.StringIO()
    args = type("Args", (), {"template": f.name})
    try:
        with redirect_stdout(out):
            stack.check_template(args)
        return out.getvalue(), True
    except SystemExit:
        return out.getvalue(), False
    finally:
        Path(f.name).unlink()


def main():
    said, passed = check(TEMPLATE)
    assert passed, said
    for what, old, new, expected in UNDONE:
        assert old in TEMPLATE, f"{what}: the fix is no longer in template.yaml as this test knows it"
        said, passed = check(TEMPLATE.replace(old, new, 1))
        assert not passed and expected in said, f"undoing {what} was not caught: {said}"
    # The recorded sends: deliver's SendMessage to the queue that invokes it.
    template = stack.load_template()
    used = {"deliver": {("sqs:SendMessage", "DeliveryQueue"): 3}}
    assert stack.check_recursion(template, used) == []
    del template["Resources"]["DeliverFunction"]["Properties"]["RecursiveLoop"]
    faults = stack.check_recursion(template, used)
    assert faults and "without RecursiveLoop" in faults[0], faults
    print(f"template checks: each of {len(UNDONE) + 1} rules catches its fix undone")


if __name__ == "__main__":
    main()
