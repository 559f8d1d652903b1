#!/usr/bin/env python3
"""The local stack's link to template.yaml, its one source of truth.

  provision     creates the template's DynamoDB tables, SQS queues and KMS key on the
                local emulators, then prints the functions' environment (Globals) as
                shell `export` lines, with !Ref resolved to the local names.
  keep-data-key keeps the data key of dev.sh's persistent table across runs (moto's KMS
                key does not last).
  check-routes  fails unless the HttpApi routes of template.yaml, the
                `cargo lambda watch` router in Cargo.toml and the operations of
                openapi.yaml are the same, and every binary is a function.
  check-permissions
                fails unless every AWS call a function made (as scripts/aws_recorder.py
                recorded them) is allowed by that function's own policy in
                template.yaml, and every action a policy grants was used, unless a
                `# kept: <action> <why>` comment in the function's block says why it stays.
                hookline-admin's calls are checked against admin/iam-policy.json.
"""

import argparse
import base64
import fnmatch
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
import tomllib
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent


class Tagged:
    """A CloudFormation intrinsic (!Ref, !GetAtt, !Sub ...) kept as data."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


class TemplateLoader(yaml.SafeLoader):
    pass


def _construct_tagged(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(tag_suffix, value)


TemplateLoader.add_multi_constructor("!", _construct_tagged)


def load_template(path=None):
    with open(path or ROOT / "template.yaml") as f:
        return yaml.load(f, Loader=TemplateLoader)


def resources(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def template_routes(template):
    routes = set()
    for fn in resources(template, "AWS::Serverless::Function").values():
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                p = event["Properties"]
                routes.add((p["Method"].upper(), p["Path"], binary))
    return routes


def watch_routes():
    with open(ROOT / "Cargo.toml", "rb") as f:
        router = tomllib.load(f)["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return {(r["method"].upper(), path, r["function"]) for path, rs in router.items() for r in rs}


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping: PyYAML keeps the
    last one silently, and a response or field written twice hides the one meant."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def openapi_routes():
    with open(ROOT / "openapi.yaml") as f:
        spec = yaml.load(f, Loader=UniqueKeyLoader)
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def require_equal(left, right, left_name, right_name):
    """Exits with every route that only one side has."""
    if left == right:
        return
    for route in sorted(left - right):
        print(f"only in {left_name}: {route}", file=sys.stderr)
    for route in sorted(right - left):
        print(f"only in {right_name}: {route}", file=sys.stderr)
    sys.exit(1)


def check_routes(_args):
    in_template, in_watch = template_routes(load_template()), watch_routes()
    require_equal(in_template, in_watch, "template.yaml", "Cargo.toml's watch router")
    # The portal's HTML pages are not API operations: openapi.yaml leaves them out.
    deployed_routes = {(method, path) for method, path, fn in in_template if fn != "portal"}
    require_equal(deployed_routes, openapi_routes(), "template.yaml", "openapi.yaml")
    binaries = {p.stem for p in (ROOT / "functions/src/bin").glob("*.rs")}
    deployed = {
        fn["Metadata"]["BuildProperties"]["Binary"]
        for fn in resources(load_template(), "AWS::Serverless::Function").values()
    }
    if binaries != deployed:
        sys.exit(
            f"functions/src/bin and template.yaml differ: only binaries {sorted(binaries - deployed)}, "
            f"only in the template {sorted(deployed - binaries)}"
        )
    print(f"routes: {len(in_template)} in template.yaml, the watch router and openapi.yaml, all equal; "
          f"{len(binaries)} functions, each a binary")


def logical_of(value):
    """The logical id an intrinsic (!Ref X, !GetAtt X.Arn, X.QueueName) names, if any."""
    if isinstance(value, Tagged) and value.tag == "Ref":
        return value.value
    if isinstance(value, Tagged) and value.tag == "GetAtt":
        return value.value.split(".")[0]
    return None


def sqs_triggers(fn):
    """The queues (logical ids) whose messages invoke a function."""
    events = fn["Properties"].get("Events", {}).values()
    return {logical_of(e["Properties"]["Queue"]) for e in events if e["Type"] == "SQS"}


ASYNC_EVENTS = {"EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2", "SNS", "S3",
                "CloudWatchLogs", "IoTRule"}


def alarmed_queues(template):
    """Queues some alarm watches, and the metric it watches each with."""
    watched = set()
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        for stat in stats:
            for dim in stat.get("Dimensions", []):
                if dim["Name"] == "QueueName":
                    watched.add((logical_of(dim["Value"]), stat.get("MetricName")))
    return watched


def check_template(args):
    """Rules the emulators cannot show (AWS behaviour), checked on the template itself."""
    template = load_template(args.template)
    functions = resources(template, "AWS::Serverless::Function")
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    watched = alarmed_queues(template)
    faults = []
    for logical, fn in functions.items():
        props = fn["Properties"]
        grants = grants_of([s for p in props.get("Policies", []) for s in p.get("Statement", [])])
        # A function that may send to the queue that invokes it re-queues on purpose:
        # Lambda's loop detection must let it (check-permissions checks the real sends).
        loops = {q for a, q in grants if a == "sqs:SendMessage"} & sqs_triggers(fn)
        if loops and props.get("RecursiveLoop") != "Allow":
            faults.append(f"{logical} may send to {sorted(loops)}, which invoke it, without RecursiveLoop: Allow")
        # An asynchronous invocation's error is retried twice, then dropped, unless the
        # function has an on-failure destination or a dead-letter queue, which an alarm watches.
        events = props.get("Events", {}).values()
        if any(e["Type"] in ASYNC_EVENTS for e in events):
            on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
            target = logical_of(on_failure.get("Destination")) or logical_of(
                props.get("DeadLetterQueue", {}).get("TargetArn"))
            if target is None:
                faults.append(f"{logical} is invoked asynchronously with no on-failure destination or dead-letter queue")
            elif not any(q == target for q, _ in watched):
                faults.append(f"{logical}'s failures go to {target}, which no alarm watches")
    # A queue whose messages are held on purpose (ChangeMessageVisibility) always has an old
    # message: its age says nothing of lateness, which the Lateness metric measures.
    held = {q for fn in functions.values()
            for a, q in grants_of([s for p in fn["Properties"].get("Policies", []) for s in p.get("Statement", [])])
            if a == "sqs:ChangeMessageVisibility"}
    for queue, metric in watched:
        if queue in held and metric == "ApproximateAgeOfOldestMessage":
            faults.append(f"an alarm on {queue}'s ApproximateAgeOfOldestMessage fires whenever a message is held on purpose")
    if held and not any(
        m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "Lateness"
        for a in alarms.values() for m in a["Properties"].get("Metrics", [])
    ):
        faults.append("no alarm watches the Lateness metric of the queue's held messages")
    # Metric math over two series gives no datapoint when one of them did not report.
    for logical, alarm in alarms.items():
        for m in alarm["Properties"].get("Metrics", []):
            expression = m.get("Expression")
            if not expression:
                continue
            ids = [i["Id"] for i in alarm["Properties"]["Metrics"] if "MetricStat" in i and i["Id"] in expression]
            bare = [i for i in ids if not re.search(rf"FILL\(\s*{i}\s*,", expression)]
            if len(ids) > 1 and bare:
                faults.append(f"{logical}: {expression!r} uses {bare} without FILL: no datapoint when one is missing")
    if faults:
        for fault in faults:
            print(f"FAIL {fault}")
        sys.exit(1)
    print(f"template: {len(functions)} functions and {len(alarms)} alarms pass the AWS-behaviour rules")


def check_recursion(template, used):
    """Faults: a function that sent (recorded calls) to a queue that invokes it, without
    RecursiveLoop: Allow."""
    faults = []
    for logical, fn in resources(template, "AWS::Serverless::Function").items():
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        sent = {r for (a, r) in used.get(binary, {}) if a == "sqs:SendMessage"}
        loops = sent & sqs_triggers(fn)
        if loops and fn["Properties"].get("RecursiveLoop") != "Allow":
            faults.append(f"{binary}: sent to {sorted(loops)}, which invoke it, without RecursiveLoop: Allow")
    return faults


def policy_resource(resource):
    """A policy Resource as a pattern over logical names: `Table`, `Table/index/*`."""
    if isinstance(resource, Tagged) and resource.tag == "GetAtt":
        return resource.value.split(".")[0]
    if isinstance(resource, Tagged) and resource.tag == "Sub":
        return re.sub(r"\$\{(\w+)\.Arn\}", r"\1", resource.value)
    if isinstance(resource, str) and ":table/${TableName}" in resource:
        return "Table" + resource.split(":table/${TableName}", 1)[1]
    if isinstance(resource, str) and ":key/${DataKeyId}" in resource:
        return "DataKey"
    sys.exit(f"check-permissions: a policy resource it cannot read: {resource!r}")


def grants_of(statements):
    """{(action, resource pattern)} a list of policy statements allows."""
    grants = set()
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        grants |= {(a, policy_resource(r)) for a in actions for r in resources}
    return grants


def kept_actions(logical):
    """Actions a `# kept: <action> <why>` comment in the resource's block keeps."""
    text = (ROOT / "template.yaml").read_text().splitlines()
    start = text.index(f"  {logical}:")
    block = []
    for line in text[start + 1:]:
        if re.match(r"^  \S", line):
            break
        block.append(line)
    return {m.group(1) for line in block for m in [re.search(r"#\s*kept:\s*(\S+)", line)] if m}


def check_permissions(args):
    template = load_template()
    policies = {}
    for logical, fn in resources(template, "AWS::Serverless::Function").items():
        statements = [s for p in fn["Properties"].get("Policies", []) for s in p.get("Statement", [])]
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        policies[binary] = (logical, grants_of(statements))
    admin = json.loads((ROOT / "admin/iam-policy.json").read_text())
    policies["hookline-admin"] = (None, grants_of(admin["Statement"]))

    # Each principal signs with its name, less what DynamoDB Local refuses in a key.
    by_key = {re.sub(r"[^A-Za-z0-9]", "", name): name for name in policies}
    # A KMS call's key: the stack's one key (Decrypt names none; the key is in the blob).
    kms_keys = list(resources(template, "AWS::KMS::Key"))
    used = defaultdict(Counter)  # caller -> Counter of (action, resource)
    for line in open(args.calls, encoding="utf-8"):
        call = json.loads(line)
        caller = by_key.get(call["caller"], call["caller"])
        for action, resource in call["actions"]:
            logical = resource.removeprefix(f"{args.prefix}-")
            if call["service"] == "kms":
                assert len(kms_keys) == 1, kms_keys
                logical = kms_keys[0]
            used[caller][(f"{call['service']}:{action}", logical)] += 1

    failures = []
    for caller in sorted(policies):
        logical, grants = policies[caller]
        calls = used.get(caller, Counter())
        faults = [
            f"{action} on {resource} ({count} calls) is not allowed by its policy"
            for (action, resource), count in sorted(calls.items())
            if not any(a == action and fnmatch.fnmatchcase(resource, p) for a, p in grants)
        ]
        # The admin policy documents every command, not only those the run used.
        kept = kept_actions(logical) if logical else {a for a, _ in grants}
        faults += [
            f"{action} on {pattern} is granted but never used "
            f"(remove it, or add `# kept: {action} <why>` to {logical})"
            for action, pattern in sorted(grants)
            if action not in kept
            and not any(a == action and fnmatch.fnmatchcase(r, pattern) for a, r in calls)
        ]
        used_actions = ", ".join(sorted({a.split(":")[1] for a, _ in calls}))
        print(f"  {caller}: {sum(calls.values())} calls ({used_actions})"
              + ("" if faults else ", all within its policy"))
        failures += [f"{caller}: {fault}" for fault in faults]
    failures += check_recursion(template, used)
    unchecked = sorted(c for c in used if c not in policies)
    print(f"permissions: {sum(sum(c.values()) for c in used.values())} calls recorded; "
          f"not a function or the admin tool, so not checked: {', '.join(str(c) for c in unchecked)}",
          flush=True)
    if failures:
        for failure in failures:
            print(f"FAIL {failure}")
        sys.exit(1)
    print(f"permissions: every call of {len(policies)} principals is allowed, and every grant is used or kept")


def provision(args):
    template = load_template()
    params = {k: v.get("Default") for k, v in template.get("Parameters", {}).items()}
    names = {}  # logical id -> what !Ref gives locally
    arns = {}

    ddb = boto3.client("dynamodb", endpoint_url=args.dynamodb)
    existing = set(ddb.list_tables()["TableNames"])
    for logical, res in resources(template, "AWS::DynamoDB::Table").items():
        props = res["Properties"]
        name = f"{args.prefix}-{logical}"
        names[logical] = name
        if name not in existing:
            create = {
                "TableName": name,
                "AttributeDefinitions": props["AttributeDefinitions"],
                "KeySchema": props["KeySchema"],
                "BillingMode": props["BillingMode"],
            }
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if key in props:
                    create[key] = props[key]
            ddb.create_table(**create)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        # Point-in-time recovery and SSE are AWS-side settings DynamoDB Local lacks.

    sqs = boto3.client("sqs", endpoint_url=args.sqs)
    queues = resources(template, "AWS::SQS::Queue")
    # Dead-letter queues first: the others' redrive policies name them.
    for logical in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"]):
        props = queues[logical]["Properties"]
        attributes = {}
        for key, value in props.items():
            if key == "RedrivePolicy":
                target = value["deadLetterTargetArn"]
                assert target.tag == "GetAtt", target.tag
                count = value["maxReceiveCount"]
                if isinstance(count, Tagged):
                    count = params[count.value]
                value = {
                    "deadLetterTargetArn": arns[target.value.split(".")[0]],
                    "maxReceiveCount": int(count),
                }
                attributes[key] = json.dumps(value)
            elif key != "QueueName":
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        url = sqs.create_queue(QueueName=f"{args.prefix}-{logical}", Attributes=attributes)["QueueUrl"]
        names[logical] = url
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    # KMS keys (the data key's wrapping key): moto's, made afresh each start, as its state
    # is not kept.
    kms = boto3.client("kms", endpoint_url=args.kms)
    for logical, res in resources(template, "AWS::KMS::Key").items():
        made = kms.create_key(Description=res["Properties"].get("Description", logical))
        names[logical] = made["KeyMetadata"]["KeyId"]

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    for key, value in env.items():
        if isinstance(value, Tagged):
            assert value.tag == "Ref", value.tag
            value = names.get(value.value, params.get(value.value))
        print(f"export {key}={json.dumps(str(value))}")
    for logical, url in names.items():
        if logical in queues:
            print(f"export HOOKLINE_{logical.upper()}_URL={json.dumps(url)}")


KMS_CONTEXT = {"purpose": "hookline-credentials"}


def keep_data_key(args):
    """The local stack keeps its table but not moto's KMS key: keeps the data key in a
    file beside the table's data, and wraps it again with each start's new KMS key, so
    that credentials sealed in an earlier run still open. (In AWS the KMS key lasts.)"""
    ddb = boto3.client("dynamodb", endpoint_url=args.dynamodb)
    kms = boto3.client("kms", endpoint_url=args.kms)
    key = {"pk": {"S": "KEYRING"}, "sk": {"S": "DATAKEY"}}
    item = ddb.get_item(TableName=args.table, Key=key, ConsistentRead=True).get("Item")
    keep = Path(args.file)
    if item is None:
        subprocess.run([args.admin, "--table", args.table, "create-data-key"], check=True,
                       stdout=subprocess.DEVNULL)
        item = ddb.get_item(TableName=args.table, Key=key, ConsistentRead=True)["Item"]
        blob = base64.b64decode(item["wrapped"]["S"])
        plain = kms.decrypt(CiphertextBlob=blob, EncryptionContext=KMS_CONTEXT)["Plaintext"]
        keep.write_bytes(base64.b64encode(plain))
        keep.chmod(0o600)
        print(f"data key made; kept in {keep}")
        return
    if not keep.exists():
        sys.exit(f"the table holds a data key wrapped by an earlier run's KMS key, and {keep} "
                 "is missing: remove .data/ to start afresh")
    wrapped = kms.encrypt(KeyId=args.key_id, Plaintext=base64.b64decode(keep.read_bytes()),
                          EncryptionContext=KMS_CONTEXT)["CiphertextBlob"]
    ddb.update_item(TableName=args.table, Key=key,
                    UpdateExpression="SET wrapped = :w, kms_key = :k",
                    ExpressionAttributeValues={":w": {"S": base64.b64encode(wrapped).decode()},
                                               ":k": {"S": args.key_id}})
    print(f"data key from {keep} wrapped with this run's KMS key")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("provision")
    p.add_argument("--dynamodb", required=True, help="DynamoDB endpoint URL")
    p.add_argument("--sqs", required=True, help="SQS endpoint URL")
    p.add_argument("--kms", required=True, help="KMS endpoint URL")
    p.add_argument("--prefix", default="hookline")
    p.set_defaults(func=provision)
    c = sub.add_parser("check-routes")
    c.set_defaults(func=check_routes)
    t = sub.add_parser("check-template")
    t.add_argument("--template", help="the template to check (template.yaml by default)")
    t.set_defaults(func=check_template)
    d = sub.add_parser("keep-data-key")
    d.add_argument("--dynamodb", required=True, help="DynamoDB endpoint URL")
    d.add_argument("--kms", required=True, help="KMS endpoint URL")
    d.add_argument("--table", required=True)
    d.add_argument("--key-id", required=True, help="this run's KMS key")
    d.add_argument("--file", required=True, help="where the data key is kept")
    d.add_argument("--admin", required=True, help="the hookline-admin binary")
    d.set_defaults(func=keep_data_key)
    k = sub.add_parser("check-permissions")
    k.add_argument("--calls", required=True, help="the JSON-lines log of scripts/aws_recorder.py")
    k.add_argument("--prefix", default="hookline")
    k.set_defaults(func=check_permissions)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
