"""The AWS quotas and rules infra/template.yaml must respect to deploy on a fresh account,
checked on the template as CloudFormation receives it: after the SAM transform (SAM's own
translator, from the SAM CLI's venv; each state machine's definition inlined from its file).

    python quotas.py check TEMPLATE [--translated OUT.json]   # exit 1 naming each breach
    python quotas.py self-test TEMPLATE                        # each rule fails on a bad copy

moto accepts what several of these refuse (an alarm with 11 metrics, a reservation a new
account cannot make), so the local stack cannot be the check: this is. Each quota below
names its source; the figures are AWS's defaults for a new account.
"""

import copy
import json
import os
import re
import sys

# A stack name as long as the checks allow for (scripts/deploy's default is "strata").
STACK_NAME = "strata-" + "x" * 25
# The longest commercial region name.
REGION = "ap-southeast-5"
ACCOUNT = "123456789012"
# What a Ref or GetAtt of a resource stands for when a length is measured: an ARN this long.
ARN_CHARS = 140

QUOTAS = [
    ("alarm-metrics", 10, "metrics a metric-math alarm may read",
     "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"),
    ("reserved-concurrency", 0, "concurrency reserved with the default parameters (new "
     "accounts have a quota of 10 and 100 must stay unreserved)",
     "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    ("lambda-environment", 4096, "bytes of a function's environment variables",
     "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    ("lambda-timeout", 900, "seconds a function may run",
     "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    ("lambda-memory", 10240, "MB of a function's memory",
     "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"),
    ("lambda-name", 64, "characters of a function name",
     "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"),
    ("iam-fixed-name", 0, "IAM names fixed without the region (IAM is global: a second "
     "region's stack of the same name would collide)",
     "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html"),
    ("iam-role-name", 64, "characters of a role name",
     "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    ("iam-inline-policies", 10240, "characters of a role's inline policies together",
     "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    ("iam-managed-policies", 10, "managed policies attached to a role",
     "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    ("state-machine-definition", 1024 * 1024, "bytes of a state machine's definition",
     "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"),
    ("state-machine-name", 80, "characters of a state machine's name",
     "https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html"),
    ("log-group-name", 512, "characters of a log group's name",
     "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html"),
    ("table-name", 255, "characters of a DynamoDB table's name",
     "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html"),
    ("schedule-name", 64, "characters of an EventBridge Scheduler schedule's name",
     "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html"),
    ("queue-name", 80, "characters of an SQS queue's name",
     "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html"),
    ("template-resources", 500, "resources in one stack",
     "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"),
    ("template-bytes", 1024 * 1024, "bytes of a template uploaded to S3",
     "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"),
]
LIMIT = {name: limit for name, limit, _, _ in QUOTAS}


def translate(path):
    """The template as CloudFormation receives it after the SAM transform."""
    import boto3
    from samcli.yamlhelper import yaml_parse
    from samtranslator.parser import parser
    from samtranslator.translator.translator import Translator

    base = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        doc = yaml_parse(f.read())
    for resource in doc["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/value"  # as `sam validate` does
        if resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            with open(os.path.join(base, props.pop("DefinitionUri"))) as f:
                props["Definition"] = json.load(f)
    translator = Translator(
        managed_policy_map=None,
        sam_parser=parser.Parser(),
        plugins=[],
        boto_session=boto3.Session(region_name="us-east-1"),
    )
    return translator.translate(
        sam_template=doc, parameter_values={}, get_managed_policy_map=lambda: {}
    )


class Resolver:
    """Intrinsics resolved with the parameters' defaults, as a new stack would get them;
    a resource's Ref or attribute stands for an ARN_CHARS-long string."""

    def __init__(self, template):
        self.params = {
            k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()
        }
        self.conditions = template.get("Conditions", {})
        self.pseudo = {
            "AWS::StackName": STACK_NAME,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return "r" * ARN_CHARS

    def condition(self, name):
        return self.truth(self.conditions[name])

    def truth(self, v):
        (fn, arg), = v.items()
        if fn == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Fn::And":
            return all(self.truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.truth(a) for a in arg)
        if fn == "Condition":
            return self.condition(arg)
        raise ValueError(f"unknown condition function {fn}")

    def value(self, v):
        if isinstance(v, dict) and len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::GetAtt":
                return "a" * ARN_CHARS
            if fn == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(
                    r"\$\{([^}!]+)\}",
                    lambda m: str(self.value(names[m.group(1)]))
                    if m.group(1) in names
                    else ("a" * ARN_CHARS if "." in m.group(1) else str(self.ref(m.group(1)))),
                    text,
                )
            if fn == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if fn == "Fn::Join":
                return arg[0].join(str(self.value(p)) for p in self.value(arg[1]))
            if fn in ("Fn::Select", "Fn::ImportValue", "Fn::GetAZs", "Fn::Split"):
                return "s" * ARN_CHARS
            if fn.startswith("Fn::") or fn == "Condition":
                raise ValueError(f"unknown intrinsic {fn}")
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v


def breaches(template):
    """Each breach as (quota, what, figure)."""
    found = []
    r = Resolver(template)

    def over(quota, what, figure):
        if figure > LIMIT[quota]:
            found.append((quota, what, figure))

    resources = template["Resources"]
    over("template-resources", "the stack", len(resources))
    over("template-bytes", "the translated template", len(json.dumps(template).encode()))
    for rid, res in resources.items():
        if "Condition" in res and not r.condition(res["Condition"]):
            continue
        kind, props = res["Type"], res.get("Properties", {})
        if kind == "AWS::CloudWatch::Alarm":
            metrics = [m for m in props.get("Metrics", []) if "MetricStat" in m]
            over("alarm-metrics", rid, len(metrics))
        elif kind == "AWS::Lambda::Function":
            reserved = r.value(props.get("ReservedConcurrentExecutions"))
            over("reserved-concurrency", rid, int(reserved or 0))
            variables = r.value(props.get("Environment", {}).get("Variables", {}))
            size = sum(len(k) + len(str(v)) for k, v in variables.items())
            over("lambda-environment", rid, size)
            over("lambda-timeout", rid, int(r.value(props.get("Timeout", 3))))
            over("lambda-memory", rid, int(r.value(props.get("MemorySize", 128))))
            if "FunctionName" in props:
                over("lambda-name", rid, len(str(r.value(props["FunctionName"]))))
        elif kind == "AWS::IAM::Role":
            for key in ("RoleName",):
                if key in props:
                    raw = json.dumps(props[key])
                    if "AWS::Region" not in raw:
                        found.append(("iam-fixed-name", f"{rid}.{key}", 1))
                    over("iam-role-name", rid, len(str(r.value(props[key]))))
            inline = sum(
                len(json.dumps(r.value(p["PolicyDocument"]), separators=(",", ":")))
                for p in props.get("Policies", [])
            )
            over("iam-inline-policies", rid, inline)
            over("iam-managed-policies", rid, len(props.get("ManagedPolicyArns", [])))
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile", "AWS::IAM::User",
                      "AWS::IAM::Group"):
            for key in ("ManagedPolicyName", "InstanceProfileName", "UserName", "GroupName"):
                if key in props and "AWS::Region" not in json.dumps(props[key]):
                    found.append(("iam-fixed-name", f"{rid}.{key}", 1))
        elif kind == "AWS::StepFunctions::StateMachine":
            definition = props.get("Definition") or props.get("DefinitionString")
            over("state-machine-definition", rid, len(json.dumps(definition).encode()))
            if "StateMachineName" in props:
                over("state-machine-name", rid, len(str(r.value(props["StateMachineName"]))))
        elif kind == "AWS::Logs::LogGroup" and "LogGroupName" in props:
            over("log-group-name", rid, len(str(r.value(props["LogGroupName"]))))
        elif kind == "AWS::DynamoDB::Table" and "TableName" in props:
            over("table-name", rid, len(str(r.value(props["TableName"]))))
        elif kind == "AWS::Scheduler::Schedule" and "Name" in props:
            over("schedule-name", rid, len(str(r.value(props["Name"]))))
        elif kind == "AWS::SQS::Queue" and "QueueName" in props:
            over("queue-name", rid, len(str(r.value(props["QueueName"]))))
    return found


def check(path, out=None):
    template = translate(path)
    if out:
        with open(out, "w") as f:
            json.dump(template, f, indent=1)
    found = breaches(template)
    print(f"quotas: {len(QUOTAS)} checked on the translated template "
          f"(stack name of {len(STACK_NAME)} characters, region {REGION})")
    for name, limit, what, source in QUOTAS:
        print(f"  {name:<26} at most {limit:>8}  {what}  [{source}]")
    for quota, what, figure in found:
        print(f"BREACH {quota}: {what} has {figure}, the limit is {LIMIT[quota]}")
    return 1 if found else 0


def self_test(path):
    """Each rule is shown to fail on a copy of the template that breaks it."""
    template = translate(path)
    assert breaches(template) == [], "the template itself must pass"

    def breaking(change):
        bad = copy.deepcopy(template)
        change(bad["Resources"])
        return {q for q, _, _ in breaches(bad)}

    def eleven_metrics(res):
        alarm = next(v for v in res.values() if v["Type"] == "AWS::CloudWatch::Alarm"
                     and len(v["Properties"].get("Metrics", [])) > 1)
        metrics = alarm["Properties"]["Metrics"]
        stat = next(m for m in metrics if "MetricStat" in m)
        while sum("MetricStat" in m for m in metrics) < 11:
            extra = copy.deepcopy(stat)
            extra["Id"] = f"x{len(metrics)}"
            metrics.insert(0, extra)

    def reserve(res):
        fn = next(v for v in res.values() if v["Type"] == "AWS::Lambda::Function")
        fn["Properties"]["ReservedConcurrentExecutions"] = 2

    def fixed_role_name(res):
        role = next(v for v in res.values() if v["Type"] == "AWS::IAM::Role")
        role["Properties"]["RoleName"] = {"Fn::Sub": "${AWS::StackName}-kubernetes"}

    def big_environment(res):
        fn = next(v for v in res.values() if v["Type"] == "AWS::Lambda::Function")
        fn["Properties"].setdefault("Environment", {}).setdefault("Variables", {})["X"] = (
            "x" * 4096
        )

    cases = [
        ("alarm-metrics", eleven_metrics),
        ("reserved-concurrency", reserve),
        ("iam-fixed-name", fixed_role_name),
        ("lambda-environment", big_environment),
    ]
    for quota, change in cases:
        got = breaking(change)
        assert quota in got, f"a copy breaking {quota} was not caught (found {got})"
        print(f"self-test: a copy breaking {quota} is refused")
    return 0


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    out = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--translated" else None
    sys.exit(check(path, out) if mode == "check" else self_test(path))
