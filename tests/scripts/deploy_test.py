"""scripts/deploy.sh as far as it can be tried without AWS: its arguments, and the
commands a dry run prints.

Run by scripts/test.sh: `python tests/scripts/deploy_test.py`.
"""

import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def deploy(*args):
    done = subprocess.run([str(ROOT / "scripts" / "deploy.sh"), *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
    return done.returncode, done.stdout, done.stderr


def main():
    code, out, err = deploy("--stack", "hookline-prod", "--region", "eu-west-1", "--dry-run",
                            "AlarmTopicArn=arn:aws:sns:eu-west-1:123456789012:ops",
                            "RetrySchedule=5s,5m,30m", "HttpsOnly=true")
    assert code == 0, err
    lines = [l.removeprefix("would run: ") for l in out.splitlines()]
    assert lines[0] == "scripts/build-aws.sh", lines
    command = shlex.split(lines[1])
    assert command[:2] == ["sam", "deploy"], command
    expected = ["--stack-name", "hookline-prod", "--region", "eu-west-1", "--resolve-s3",
                "--no-confirm-changeset", "--no-fail-on-empty-changeset"]
    for flag in expected:
        assert flag in command, (flag, command)
    assert command[command.index("--capabilities") + 1:command.index("--capabilities") + 3] == [
        "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    overrides = command[command.index("--parameter-overrides") + 1:]
    assert overrides == ["AlarmTopicArn=arn:aws:sns:eu-west-1:123456789012:ops",
                         "RetrySchedule=5s,5m,30m", "HttpsOnly=true"], overrides
    assert shlex.split(lines[2])[:3] == ["sam", "list", "stack-outputs"], lines
    # No region given: none is passed (sam takes the profile's); --guided asks instead.
    code, out, err = deploy("--stack=dev", "--dry-run", "--no-build", "--guided")
    assert code == 0, err
    command = shlex.split(out.splitlines()[0].removeprefix("would run: "))
    assert "--guided" in command and "--region" not in command and "--resolve-s3" not in command
    # Refused before anything runs, each with its reason.
    for args, reason in [
        ((), "--stack NAME is required"),
        (("--stack",), "--stack needs a name"),
        (("--stack", "9lives"), "must start with a letter"),
        (("--stack", "a_b"), "must start with a letter"),
        (("--stack", "x", "--region", "mars"), "is not an AWS region"),
        (("--stack", "x", "Colour=blue"), "Colour is not a parameter"),
        (("--stack", "x", "--force"), "unknown option --force"),
        (("--stack", "x", "stray"), "neither an option nor Param=Value"),
    ]:
        code, out, err = deploy(*args, "--dry-run")
        assert code == 2 and reason in err and not out, (args, code, out, err)
    code, _, err = deploy("--help")
    assert code == 2 and "--stack NAME" in err
    print("deploy.sh: arguments and dry run as expected")


if __name__ == "__main__":
    main()
