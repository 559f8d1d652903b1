#!/usr/bin/env python3
"""The local stack's link to template.yaml, its one source of truth.

  provision     creates the template's DynamoDB tables and SQS queues on the local
                emulators, then prints the functions' environment (Globals) as shell
                `export` lines, with !Ref resolved to the local names.
  check-routes  fails unless the HttpApi routes of template.yaml, the
                `cargo lambda watch` router in Cargo.toml and the operations of
                openapi.yaml are the same, and every binary is a function.
"""

import argparse
import json
import sys
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


def load_template():
    with open(ROOT / "template.yaml") as f:
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


def openapi_routes():
    with open(ROOT / "openapi.yaml") as f:
        spec = yaml.safe_load(f)
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
    deployed_routes = {(method, path) for method, path, _ in in_template}
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

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    for key, value in env.items():
        if isinstance(value, Tagged):
            assert value.tag == "Ref", value.tag
            value = names.get(value.value, params.get(value.value))
        print(f"export {key}={json.dumps(str(value))}")
    for logical, url in names.items():
        if logical in queues:
            print(f"export HOOKLINE_{logical.upper()}_URL={json.dumps(url)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("provision")
    p.add_argument("--dynamodb", required=True, help="DynamoDB endpoint URL")
    p.add_argument("--sqs", required=True, help="SQS endpoint URL")
    p.add_argument("--prefix", default="hookline")
    p.set_defaults(func=provision)
    c = sub.add_parser("check-routes")
    c.set_defaults(func=check_routes)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
