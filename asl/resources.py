"""Task resource ARNs: what kind of resource a Task calls, recognised once per definition.

Shared by the validator (INVALID_RESOURCE, EXPRESS restrictions) and the interpreter (which adapter and which
history events a Task uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SYNC = ".sync"
SYNC2 = ".sync:2"
WAIT_FOR_TASK_TOKEN = ".waitForTaskToken"

# The optimized integrations AWS documents, service -> actions (without the pattern suffix).
OPTIMIZED: dict[str, frozenset[str]] = {
    "lambda": frozenset({"invoke"}),
    "sqs": frozenset({"sendMessage"}),
    "sns": frozenset({"publish"}),
    "dynamodb": frozenset({"getItem", "putItem", "updateItem", "deleteItem"}),
    "events": frozenset({"putEvents"}),
    "states": frozenset({"startExecution"}),
    "ecs": frozenset({"runTask"}),
    "batch": frozenset({"submitJob"}),
    "glue": frozenset({"startJobRun"}),
    "athena": frozenset({"startQueryExecution", "stopQueryExecution", "getQueryExecution", "getQueryResults"}),
    "codebuild": frozenset({"startBuild", "stopBuild", "batchDeleteBuilds", "batchGetReports", "startBuildBatch",
                            "stopBuildBatch", "retryBuildBatch", "retryBuild", "deleteBuildBatch", "batchGetBuildBatches"}),
    "elasticmapreduce": frozenset({"createCluster", "terminateCluster", "addStep", "cancelStep", "setClusterTerminationProtection",
                                   "modifyInstanceFleetByName", "modifyInstanceGroupByName"}),
    "emr-containers": frozenset({"createVirtualCluster", "deleteVirtualCluster", "startJobRun"}),
    "emr-serverless": frozenset({"createApplication", "startApplication", "stopApplication", "deleteApplication", "startJobRun", "cancelJobRun"}),
    "sagemaker": frozenset({"createEndpoint", "createEndpointConfig", "createHyperParameterTuningJob", "createLabelingJob",
                            "createModel", "createProcessingJob", "createTrainingJob", "createTransformJob", "updateEndpoint"}),
    "glue:databrew": frozenset({"startJobRun"}),
    "databrew": frozenset({"startJobRun"}),
    "apigateway": frozenset({"invoke"}),
    "eks": frozenset({"createCluster", "deleteCluster", "createFargateProfile", "deleteFargateProfile", "createNodegroup",
                      "deleteNodegroup", "runJob", "call"}),
    "bedrock": frozenset({"invokeModel", "createModelCustomizationJob"}),
    "mediaconvert": frozenset({"createJob"}),
    "http": frozenset({"invoke"}),
    "emr": frozenset(),
}

_STATES_ARN = re.compile(r"^arn:(aws[\w-]*):states:([\w-]*):(\d*):(.+)$")
_LAMBDA_ARN = re.compile(r"^arn:(aws[\w-]*):lambda:([\w-]+):(\d{12}):function:([\w-]+)(?::([\w$-]+))?$")


@dataclass(frozen=True, slots=True)
class Resource:
    """A parsed Task resource.

    ``kind`` is ``lambda`` (a plain Lambda function ARN), ``activity``, ``service`` (an optimized integration),
    ``sdk`` (``aws-sdk:service:action``) or ``other`` (any other URI, e.g. a locally registered callable).
    ``service_name``/``action`` split the ARN as history events show them (resourceType / resource), and
    ``pattern`` is "", ".sync", ".sync:2" or ".waitForTaskToken".
    """

    arn: str
    kind: str
    service_name: str = ""
    action: str = ""
    pattern: str = ""
    region: str = ""
    account: str = ""


def parse_resource(arn: str) -> Resource:
    """Classify a Task's Resource string."""
    if _LAMBDA_ARN.match(arn):
        m = _LAMBDA_ARN.match(arn)
        assert m
        return Resource(arn, "lambda", region=m.group(2), account=m.group(3))
    m = _STATES_ARN.match(arn)
    if not m:
        return Resource(arn, "other")
    rest = m.group(4)
    if rest.startswith("activity:"):
        return Resource(arn, "activity", region=m.group(2), account=m.group(3))
    if m.group(2) or m.group(3):
        return Resource(arn, "other", region=m.group(2), account=m.group(3))
    pattern = ""
    for suffix in (SYNC2, SYNC, WAIT_FOR_TASK_TOKEN):
        if rest.endswith(suffix):
            pattern, rest = suffix, rest[: -len(suffix)]
            break
    if rest.startswith("aws-sdk:"):
        parts = rest.split(":")
        if len(parts) == 3 and parts[1] and parts[2]:
            return Resource(arn, "sdk", "aws-sdk:" + parts[1], parts[2] + pattern, pattern)
        return Resource(arn, "invalid")
    service, _, action = rest.rpartition(":")
    if service in OPTIMIZED:
        return Resource(arn, "service", service, action + pattern, pattern)
    return Resource(arn, "invalid", service, action + pattern, pattern)


def is_recognised(res: Resource) -> bool:
    """False for ``arn:aws:states:::`` resources AWS would not recognise (unknown service or action)."""
    if res.kind == "invalid":
        return False
    if res.kind == "service":
        base = res.action[: -len(res.pattern)] if res.pattern else res.action
        return base in OPTIMIZED[res.service_name]
    return True
