"""SAM and CloudFormation templates: the state machines and Lambda functions a template declares, run locally.

``load_template(path)`` reads a template (YAML with CloudFormation's short tags such as ``!GetAtt``, ``!Ref`` and
``!Sub``, or JSON). :meth:`Template.state_machine` gives a state machine's definition as CloudFormation would deploy
it: ``Definition``, ``DefinitionUri`` (a local file) or ``DefinitionString``, with ``DefinitionSubstitutions``
applied, each value resolved as CloudFormation documents it (``!GetAtt Fn.Arn`` is the ARN of the local function;
``!Ref`` a function's name, a state machine's ARN, a queue's URL, a topic's ARN; ``!Sub`` with the pseudo
parameters). :meth:`Template.functions` gives each ``AWS::Serverless::Function`` and ``AWS::Lambda::Function``
(``CodeUri`` / ``Code``, ``Handler``, ``Runtime`` python3.x or nodejs, ``Timeout``, ``MemorySize``,
``Environment``, with ``Globals``) as a local Lambda function, named as CloudFormation names it (``FunctionName``,
resolved, else the logical id), so the definition's Tasks reach it; a ``Runtime`` naming a newer Python than this
one runs under that Python when the PATH has it. Anything a template holds that cannot run locally is a
:class:`~asl.errors.ConfigError` naming the resource and the property.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
_SUB = re.compile(r"\$\{([^}!]+)\}")
# the attributes !GetAtt may read, for the resource types whose attributes asl gives
_ATTRIBUTES = {"AWS::Serverless::Function": {"Arn"}, "AWS::Lambda::Function": {"Arn", "SnapStartResponse"},
               "AWS::Serverless::StateMachine": {"Arn", "Name"}, "AWS::StepFunctions::StateMachine": {"Arn", "Name"},
               "AWS::SQS::Queue": {"Arn", "QueueName", "QueueUrl"}, "AWS::SNS::Topic": {"TopicArn", "TopicName"}}
_STATE_MACHINES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
# the properties that name a resource (CloudFormation makes up a name when there is none; asl takes the logical id)
_NAME_PROPERTIES = ("FunctionName", "StateMachineName", "Name", "TableName", "QueueName", "TopicName", "BucketName")
NODE_SUFFIXES = (".mjs", ".js", ".cjs")


def _yaml_loader() -> Any:
    """A YAML loader that reads CloudFormation's short tags as the long forms (``!Ref X`` → ``{"Ref": "X"}``)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(tag: str) -> Any:
        name = "Ref" if tag == "Ref" else f"Fn::{tag}"

        def make(loader: Any, node: Any) -> Any:
            if isinstance(node, yaml.ScalarNode):
                value: Any = loader.construct_scalar(node)
                if tag == "GetAtt" and isinstance(value, str):  # !GetAtt Fn.Arn
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {name: value}

        return make

    for tag in ("Ref", "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap",
                "Base64", "Cidr", "GetAZs", "ImportValue", "Condition", "Transform", "ToJsonString", "Length"):
        Loader.add_constructor(f"!{tag}", construct(tag))
    return Loader


@dataclass
class Template:
    """A read template, and what running it locally needs: the account and region its ARNs are in."""

    path: Path
    body: dict[str, Any]
    region: str = "us-east-1"
    account: str = "123456789012"
    _naming: set[str] = field(default_factory=set)  # the resources whose name is being resolved (a loop is an error)

    @property
    def resources(self) -> dict[str, Any]:
        res = self.body.get("Resources")
        return res if isinstance(res, dict) else {}

    def _where(self, *parts: str) -> str:
        return f"{self.path}: " + "/".join(parts)

    # -- intrinsic functions ------------------------------------------------------------------------------------------
    def name_of(self, logical_id: str) -> str:
        """A resource's name (its name property, which may be an intrinsic function such as ``!Sub``, else the logical
        id as a local stand-in for the name CloudFormation would make up), a parameter's default, or a pseudo
        parameter's value."""
        res = self.resources.get(logical_id)
        if isinstance(res, dict):
            props = res.get("Properties") or {}
            key = next((k for k in _NAME_PROPERTIES if k in props and props[k] is not None), None)
            if key is None:
                return logical_id
            if logical_id in self._naming:
                raise ConfigError(self._where("Resources", logical_id, "Properties", key) + ": the name refers to "
                                                                                          "itself")
            self._naming.add(logical_id)
            try:
                name = self.resolve(props[key], f"Resources/{logical_id}/Properties/{key}")
            finally:
                self._naming.discard(logical_id)
            if not isinstance(name, str | int):
                raise ConfigError(self._where("Resources", logical_id, "Properties", key) + ": expected a string")
            return str(name)
        params = self.body.get("Parameters") or {}
        if logical_id in params:
            default = (params[logical_id] or {}).get("Default")
            if default is None:
                raise ConfigError(self._where("Parameters", logical_id) + ": a parameter without a Default cannot be "
                                                                          "resolved locally")
            return str(default)
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::StackName": self.path.resolve().parent.name,
                  "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/local/local", **PSEUDO}
        if logical_id in pseudo:
            return str(pseudo[logical_id])
        raise ConfigError(self._where("Resources") + f": no resource or parameter named '{logical_id}'")

    def ref(self, logical_id: str) -> str:
        """What ``!Ref`` gives, as each resource type documents it: a state machine's ARN, a queue's URL, a topic's
        ARN; for the other resources (a function, a table, a bucket ...) their name; a parameter's default, a pseudo
        parameter's value."""
        kind = str((self.resources.get(logical_id) or {}).get("Type", ""))
        if kind in _STATE_MACHINES:
            return self.attribute(logical_id, "Arn")
        if kind == "AWS::SQS::Queue":
            return self.attribute(logical_id, "QueueUrl")
        if kind == "AWS::SNS::Topic":
            return self.attribute(logical_id, "TopicArn")
        return self.name_of(logical_id)

    def attribute(self, logical_id: str, attr: str) -> str:
        """What ``!GetAtt`` gives: a function's or state machine's ARN or name, else an ARN-shaped stand-in."""
        res = self.resources.get(logical_id)
        if not isinstance(res, dict):
            raise ConfigError(self._where("Resources") + f": !GetAtt names '{logical_id}', which is not a resource")
        kind = str(res.get("Type", ""))
        name = self.name_of(logical_id)
        known = _ATTRIBUTES.get(kind)
        if known is not None and attr not in known:
            raise ConfigError(self._where("Resources") + f": !GetAtt {logical_id}.{attr}: a {kind} has no attribute "
                                                         f"'{attr}' (it has: {', '.join(sorted(known))})")
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function") and attr == "Arn":
            return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        if kind in _STATE_MACHINES:
            return name if attr == "Name" else f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}"
        if attr in ("Name", "QueueName", "TopicName"):
            return name
        if attr == "QueueUrl":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"
        if attr == "TopicArn":
            return f"arn:aws:sns:{self.region}:{self.account}:{name}"
        if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable") and attr == "Arn":
            return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"
        if kind == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:aws:s3:::{name}"
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "resource"
        return f"arn:aws:{service}:{self.region}:{self.account}:{name}"

    def resolve(self, value: Any, where: str = "") -> Any:
        """A property's value with its intrinsic functions evaluated."""
        if isinstance(value, list):
            return [self.resolve(v, where) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                return self.attribute(str(parts[0]), str(parts[1]) if len(parts) > 1 else "Arn")
            if key == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1], where))
                return _SUB.sub(lambda m: self._sub_name(m.group(1), names), str(text))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(x) for x in self.resolve(items, where))
            if key == "Fn::Select":
                index, items = self.resolve(arg, where)
                return items[int(index)]
            if key == "Fn::Split":
                sep, text = self.resolve(arg, where)
                return str(text).split(str(sep))
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg, where), separators=(",", ":"))
            if key.startswith("Fn::") or key == "Condition":
                raise ConfigError(f"{self.path}: {where}: {key} cannot be evaluated locally")
        return {k: self.resolve(v, where) for k, v in value.items()}

    def _sub_name(self, name: str, names: dict[str, Any]) -> str:
        if name in names:
            return str(names[name])
        if "." in name and not name.startswith("AWS::"):
            logical_id, attr = name.split(".", 1)
            return self.attribute(logical_id, attr)
        return self.ref(name)

    # -- state machines -----------------------------------------------------------------------------------------------
    def state_machine_ids(self) -> list[str]:
        return [k for k, r in self.resources.items() if isinstance(r, dict) and
                r.get("Type") in _STATE_MACHINES]

    def state_machine(self, logical_id: str | None = None) -> tuple[str, str, str]:
        """A state machine's (name, definition text, type): the only one, or the one ``logical_id`` names."""
        ids = self.state_machine_ids()
        if logical_id is None:
            if len(ids) != 1:
                raise ConfigError(f"{self.path}: {len(ids)} state machines ({', '.join(ids) or 'none'}); name one with "
                                  "--state-machine LOGICAL_ID")
            logical_id = ids[0]
        if logical_id not in ids:
            raise ConfigError(f"{self.path}: no state machine '{logical_id}' (it has: {', '.join(ids) or 'none'})")
        props = self.resources[logical_id].get("Properties") or {}
        where = f"Resources/{logical_id}/Properties"
        text = self._definition_text(props, where)
        subs = self.resolve(props.get("DefinitionSubstitutions") or {}, f"{where}/DefinitionSubstitutions")
        if not isinstance(subs, dict):
            raise ConfigError(f"{self.path}: {where}/DefinitionSubstitutions: expected a map")
        text = _SUB.sub(lambda m: _substituted(m, subs), text)
        kind = str(props.get("Type") or props.get("StateMachineType") or "STANDARD")
        return self.name_of(logical_id), text, kind

    def _definition_text(self, props: dict[str, Any], where: str) -> str:
        if "Definition" in props:
            return json.dumps(self.resolve(props["Definition"], f"{where}/Definition"))
        if "DefinitionString" in props:
            return str(self.resolve(props["DefinitionString"], f"{where}/DefinitionString"))
        uri = props.get("DefinitionUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            file = self.path.parent / uri
            try:
                raw = file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{self.path}: {where}/DefinitionUri: cannot read {file}: {exc.strerror or exc}") from None
            if file.suffix in (".yaml", ".yml"):
                import yaml

                return json.dumps(yaml.load(raw, Loader=_yaml_loader()))  # noqa: S506 - a SafeLoader subclass
            return raw
        if uri is not None or "DefinitionS3Location" in props:
            raise ConfigError(f"{self.path}: {where}: a definition in S3 cannot be read locally; give DefinitionUri "
                              "as a file path")
        raise ConfigError(f"{self.path}: {where}: no Definition, DefinitionUri or DefinitionString")

    # -- functions ----------------------------------------------------------------------------------------------------
    def functions(self) -> list[Any]:
        """Every Lambda function of the template as a local function."""
        return [self._function(k, r) for k, r in self.resources.items() if isinstance(r, dict) and
                r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")]

    def _function(self, logical_id: str, res: dict[str, Any]) -> Any:
        from .adapters.lambda_local import DEFAULT_TIMEOUT, LambdaFunction
        from .config import check_handler

        where = f"Resources/{logical_id}/Properties"
        serverless = res.get("Type") == "AWS::Serverless::Function"
        glob = ((self.body.get("Globals") or {}).get("Function") or {}) if serverless else {}
        props = {**glob, **(res.get("Properties") or {})}
        env_vars = {**((glob.get("Environment") or {}).get("Variables") or {}),
                    **(((res.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})}
        if props.get("PackageType") == "Image":
            raise ConfigError(f"{self.path}: {where}/PackageType: functions packaged as images cannot run locally")
        runtime = str(self.resolve(props.get("Runtime", ""), where))
        if not runtime.startswith(("python3", "nodejs")):
            raise ConfigError(f"{self.path}: {where}/Runtime: asl runs python3.x and nodejs functions, not "
                              f"'{runtime or '(none)'}'")
        code = props.get("CodeUri", ".") if serverless else props.get("Code")
        if isinstance(code, dict) or not isinstance(code, str):
            raise ConfigError(f"{self.path}: {where}/{'CodeUri' if serverless else 'Code'}: code in S3 or inline "
                              "cannot run locally; give a local folder")
        code_dir = (self.path.parent / code).resolve()
        handler = str(self.resolve(props.get("Handler", ""), f"{where}/Handler"))
        module, _, attr = handler.rpartition(".")
        if not module or not attr:
            raise ConfigError(f"{self.path}: {where}/Handler: expected 'module.function', got {handler!r}")
        kind = "nodejs" if runtime.startswith("nodejs") else "python"
        if kind == "python":  # Lambda's Python runtime reads pkg/mod.handler as pkg.mod.handler
            handler = f"{module.replace('/', '.')}.{attr}"
        if kind == "nodejs":  # Lambda's Node.js handler names a file (app.mjs, app.js or app.cjs) and an export
            file = next((f"{module}{s}" for s in NODE_SUFFIXES if (code_dir / f"{module}{s}").is_file()), f"{module}.js")
            handler = f"{file}:{attr}"
        label = f"{self.path}: {where}/Handler ({logical_id})"
        interpreter = ""
        wanted = _python_version(runtime) if kind == "python" else None
        if wanted is not None and wanted > sys.version_info[:2]:  # a newer Python than this one: run it under that one
            interpreter = _find_python(wanted)
        if interpreter:
            _check_handler_with(interpreter, handler, code_dir, label)
        else:
            try:
                check_handler(handler, code_dir, label, kind, packaged=True)
            except ConfigError as exc:
                if wanted is None or wanted <= sys.version_info[:2] or "not valid Python" not in str(exc):
                    raise
                raise ConfigError(f"{exc}, as Python {sys.version_info[0]}.{sys.version_info[1]} reads it; its Runtime "
                                  f"is {runtime}: put python{wanted[0]}.{wanted[1]} on the PATH to run it with that "
                                  "Python") from None
        env = {k: str(self.resolve(v, f"{where}/Environment/Variables/{k}")) for k, v in env_vars.items()}
        timeout = float(props.get("Timeout", DEFAULT_TIMEOUT))
        memory = int(props.get("MemorySize", 128))
        return LambdaFunction(self.name_of(logical_id), handler, str(code_dir), timeout, env, memory, runtime=kind,
                              runtime_id=runtime, interpreter=interpreter)


def _python_version(runtime: str) -> tuple[int, int] | None:
    """The Python a Lambda runtime identifier names (``python3.12`` → (3, 12))."""
    m = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    return (int(m.group(1)), int(m.group(2))) if m else None


_PYTHONS: dict[tuple[int, int], str] = {}


def _find_python(version: tuple[int, int]) -> str:
    """``pythonX.Y`` on the PATH, if it runs and is that Python ("" otherwise); found once a process."""
    if version not in _PYTHONS:
        import shutil
        import subprocess

        found = shutil.which(f"python{version[0]}.{version[1]}") or ""
        if found:  # a version manager's shim may be on the PATH for a Python it does not select
            try:
                out = subprocess.run([found, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                                     text=True, timeout=30, check=False)
                found = found if out.returncode == 0 and out.stdout.split() == [str(v) for v in version] else ""
            except (OSError, subprocess.SubprocessError):
                found = ""
        _PYTHONS[version] = found
    return _PYTHONS[version]


def _check_handler_with(interpreter: str, handler: str, code_dir: Path, where: str) -> None:
    """The start-up check of a Python handler (its file is there, is Python, defines the handler: asl.config's own
    check), run by the Python that will run the function, which reads syntax this one may not."""
    import inspect
    import subprocess

    from . import config

    script = "\n".join(["import ast, sys", "from pathlib import Path", "class ConfigError(Exception):", "    pass",
                        inspect.getsource(config._check_handler),
                        "try:", "    _check_handler(sys.argv[1], Path(sys.argv[2]), sys.argv[3], True)",
                        "except ConfigError as exc:", "    print(exc)"])
    try:
        out = subprocess.run([interpreter, "-c", script, handler, str(code_dir), where], capture_output=True, text=True,
                             timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"{where}: cannot check the handler with {interpreter}: {exc}") from None
    if out.returncode != 0 or out.stdout.strip():
        raise ConfigError(out.stdout.strip() or f"{where}: cannot check the handler with {interpreter}: "
                                                f"{out.stderr.strip()[-500:]}")


def _substituted(m: re.Match[str], subs: dict[str, Any]) -> str:
    value = subs.get(m.group(1))
    if value is None:
        return m.group(0)  # CloudFormation leaves what the substitutions do not name
    return value if isinstance(value, str) else json.dumps(value)


def load_template(path: str | Path, region: str = "us-east-1", account: str = "123456789012") -> Template:
    """Read a SAM or CloudFormation template (YAML or JSON); a problem is a :class:`ConfigError` naming the file."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    import yaml

    try:
        body = yaml.load(raw, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass (YAML is a JSON superset)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not a valid template: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise ConfigError(f"{p}: not a template (no Resources)")
    return Template(p, body, region, account)
