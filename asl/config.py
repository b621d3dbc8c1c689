"""The project configuration file, ``asl.toml``: local Lambda functions (and later service endpoints).

Example::

    [lambda.functions.request-approval]
    handler = "examples/approval_tasks.py:request_approval"   # or "package.module.function"
    timeout = 10                                              # seconds; Lambda's default is 3
    environment = { STAGE = "local" }

    [aws]                                   # AWS service integrations through boto3
    endpoint_url = "http://127.0.0.1:5000"  # e.g. moto_server or LocalStack; omit for AWS itself
    region = "us-east-1"

    [store]                                 # where the durable commands keep executions
    location = "postgresql://asl@db.internal/asl"   # or a SQLite file, relative to this file

The store's location is taken from ``--store``, else ``$ASL_STORE``, else ``[store]`` here, else
``.asl/store.db``.

Handlers are resolved against the directory of the configuration file. Every problem is reported with its
place in the file (``ConfigError``), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

# The adapters and the TOML parser are imported where they are used: `asl run` without a configuration needs none
# of them, and they cost a tenth of its start-up.
if TYPE_CHECKING:
    from .adapters import Adapters
    from .adapters.lambda_local import LambdaFunction

DEFAULT_FILE = "asl.toml"


@dataclass
class Config:
    """What asl.toml and command-line flags configure."""

    functions: list[LambdaFunction] = field(default_factory=list)
    aws_endpoint_url: str | None = None
    aws_region: str | None = None
    aws: bool = False  # route AWS service resources through boto3
    echo: Any = None  # a text stream that shows what local Lambda handlers print
    store: str | None = None  # [store] location: a PostgreSQL URL, or a SQLite file's path (made absolute)
    connections: dict[str, Any] = field(default_factory=dict)  # [http.connections.NAME]: HTTP Tasks' connections
    apigateway: Any = None  # [apigateway]: where API Gateway Tasks' endpoints are reached locally

    def adapters(self) -> Adapters | None:
        """The adapter registry for these settings (None when nothing is configured): AWS services through
        boto3 when an endpoint is configured, and local Lambda functions, which come first for their names."""
        if not self.functions and not self.aws and not self.connections and self.apigateway is None:
            return None
        from .adapters import Adapters
        from .adapters.aws import AwsServices
        from .adapters.http import HttpInvoke
        from .adapters.lambda_local import LocalLambda

        adapters = Adapters()
        HttpInvoke(self.connections).register_in(adapters)
        if self.apigateway is not None:
            self.apigateway.register_in(adapters)
        services = None
        if self.aws:
            services = AwsServices(self.aws_endpoint_url, self.aws_region)
            services.register_in(adapters)
        if self.functions:
            LocalLambda(self.functions, fallback=services, echo=self.echo).register_in(adapters)
        return adapters


_CONNECTION_KEYS = {"authorization", "api_key_name", "api_key_value", "username", "password", "token", "headers",
                    "query"}


def _connections(http: Any, p: Path) -> dict[str, Any]:
    """``[http.connections.NAME]`` tables: how an HTTP Task's connection (by name or ARN) authorizes locally."""
    from .adapters.http import Connection

    if not isinstance(http, dict) or set(http) - {"connections"} or not isinstance(http.get("connections", {}), dict):
        raise ConfigError(f"{p}: http: expected [http.connections.NAME] tables")
    out: dict[str, Any] = {}
    for name, spec in http.get("connections", {}).items():
        where = f"{p}: http.connections.{name}"
        if not isinstance(spec, dict) or set(spec) - _CONNECTION_KEYS:
            raise ConfigError(f"{where}: expected a table with {', '.join(sorted(_CONNECTION_KEYS))}")
        kind = spec.get("authorization", "NONE")
        if kind not in ("API_KEY", "BASIC", "OAUTH_CLIENT_CREDENTIALS", "NONE"):
            raise ConfigError(f"{where}.authorization: API_KEY, BASIC, OAUTH_CLIENT_CREDENTIALS or NONE, not {kind!r}")
        if kind == "API_KEY" and not spec.get("api_key_name"):
            raise ConfigError(f"{where}: an API_KEY connection needs api_key_name (the header) and api_key_value")
        fields = {k: spec[k] for k in ("api_key_name", "api_key_value", "username", "password", "token") if k in spec}
        if not all(isinstance(v, str) for v in fields.values()):
            raise ConfigError(f"{where}: api_key_name, api_key_value, username, password and token are strings")
        extra = {k: spec.get(k, {}) for k in ("headers", "query")}
        if not all(isinstance(t, dict) and all(isinstance(v, str) for v in t.values()) for t in extra.values()):
            raise ConfigError(f"{where}: headers and query are tables of strings")
        out[str(name)] = Connection(str(name), kind, **fields, **extra)
    return out


def _function(name: str, spec: Any, where: str, base: Path) -> LambdaFunction:
    from .adapters.lambda_local import DEFAULT_TIMEOUT, LambdaFunction

    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table with 'handler'")
    unknown = set(spec) - {"handler", "timeout", "environment", "memory", "code_dir", "runtime"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    handler = spec.get("handler")
    if not isinstance(handler, str) or not handler or ("." not in handler and ":" not in handler):
        raise ConfigError(f"{where}.handler: expected 'path/file.py:function' or 'module.function', got {handler!r}")
    timeout = spec.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 900:
        raise ConfigError(f"{where}.timeout: expected seconds between 1 and 900, got {timeout!r}")
    env = spec.get("environment", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ConfigError(f"{where}.environment: expected a table of strings")
    code_dir = base / spec.get("code_dir", ".")
    runtime = spec.get("runtime", "nodejs" if handler.rpartition(":")[0].endswith(NODE_SUFFIXES) else "python")
    if runtime not in ("python", "nodejs"):
        raise ConfigError(f"{where}.runtime: expected 'python' or 'nodejs', got {runtime!r}")
    check_handler(handler, code_dir, where, runtime)
    return LambdaFunction(name, handler, str(code_dir), float(timeout), dict(env), int(spec.get("memory", 128)),
                          runtime=runtime)


NODE_SUFFIXES = (".js", ".mjs", ".cjs")


def check_handler(handler: str, code_dir: Path, where: str, runtime: str = "python", packaged: bool = False) -> None:
    """A local function's handler is there before anything runs (:class:`ConfigError` naming ``where`` if not).
    ``packaged``: the function's code is its code directory (a template's function), so its module must be there."""
    if runtime == "nodejs":
        _check_node_handler(handler, code_dir, where)
    else:
        _check_handler(handler, code_dir, where, packaged)


def _check_node_handler(handler: str, code_dir: Path, where: str) -> None:
    """A Node.js handler (``file.js:export``, also ``.mjs``/``.cjs``): its file exists and names the export (read as
    text: JavaScript is run only in the function's process)."""
    target, sep, attr = handler.rpartition(":")
    if not sep or not target.endswith(NODE_SUFFIXES):
        raise ConfigError(f"{where}.handler: a Node.js handler is 'path/file.js:export' (or .mjs, .cjs), got {handler!r}")
    path = code_dir / target
    if not path.is_file():
        raise ConfigError(f"{where}: the handler file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read the handler file {path}: {exc}") from None
    if attr not in text:
        raise ConfigError(f"{where}: the handler file {path} exports no '{attr}'")


def _check_handler(handler: str, code_dir: Path, where: str, packaged: bool = False) -> None:
    """A handler must be there before anything runs: its file (``file.py:function``, or a ``module.function`` whose
    module is a file under the code directory) exists, is Python, and defines the function at its top level. Read,
    not imported: a handler's module runs only in its function's process. A module found nowhere under the code
    directory (an installed package) is left to the import."""
    import ast

    target, sep, attr = handler.rpartition(":")
    if sep:
        path = code_dir / target
    else:
        module, _, attr = handler.rpartition(".")
        base = code_dir.joinpath(*module.replace("/", ".").split("."))
        found = [p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()]
        if not found and packaged:
            raise ConfigError(f"{where}: no module '{module}' in {code_dir} (the handler file {base.name}.py is missing)")
        if not found:
            return
        path = found[0]
    if not path.is_file():
        raise ConfigError(f"{where}: the handler file {path} does not exist")
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{where}: the handler file {path} is not valid Python (line {exc.lineno}: {exc.msg})") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot read the handler file {path}: {exc}") from None
    names: set[str] = set()
    star = False

    def collect(body: list[ast.stmt]) -> None:
        nonlocal star
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    star = star or alias.name == "*"
                    names.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.If | ast.Try | ast.With):  # definitions made under a condition
                for part in ("body", "orelse", "finalbody", "handlers"):
                    for sub in getattr(node, part, []):
                        collect(sub.body if isinstance(sub, ast.ExceptHandler) else [sub])

    collect(tree.body)
    if attr not in names and not star:
        raise ConfigError(f"{where}: the handler file {path} defines no '{attr}'")


def load_config(path: str | Path | None = None) -> Config:
    """Read ``path``, or ``asl.toml`` in the current directory if it exists (an empty Config otherwise)."""
    p = Path(path) if path is not None else Path(DEFAULT_FILE)
    if path is None and not p.is_file():
        return Config()
    import tomllib

    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{p}: not valid TOML: arrays or tables are nested too deeply") from None
    cfg = Config()
    unknown = set(data) - {"lambda", "aws", "store", "http", "apigateway"}
    if unknown:
        raise ConfigError(f"{p}: unknown section(s) {', '.join(sorted(unknown))}")
    aws = data.get("aws", {})
    if not isinstance(aws, dict) or set(aws) - {"endpoint_url", "region"}:
        raise ConfigError(f"{p}: aws: expected a table with endpoint_url and region")
    for key in ("endpoint_url", "region"):
        if key in aws and not isinstance(aws[key], str):
            raise ConfigError(f"{p}: aws.{key}: expected a string")
    if aws:
        cfg.aws, cfg.aws_endpoint_url, cfg.aws_region = True, aws.get("endpoint_url"), aws.get("region")
    cfg.connections = _connections(data.get("http", {}), p)
    if "apigateway" in data:
        from .adapters.apigateway import from_config

        cfg.apigateway = from_config(data["apigateway"], f"{p}: apigateway")
    store = data.get("store", {})
    if not isinstance(store, dict) or set(store) - {"location"} or not isinstance(store.get("location", ""), str):
        raise ConfigError(f"{p}: store: expected a table with location (a postgresql:// URL or a file path)")
    if store.get("location"):
        location = store["location"]
        from .store import is_url

        cfg.store = location if is_url(location) else str(p.resolve().parent / location)
    functions = data.get("lambda", {}).get("functions", {})
    if not isinstance(functions, dict):
        raise ConfigError(f"{p}: lambda.functions: expected tables, one per function")
    for name, spec in functions.items():
        cfg.functions.append(_function(name, spec, f"{p}: lambda.functions.{name}", p.resolve().parent))
    return cfg


def lambda_flag(flag: str) -> LambdaFunction:
    """``NAME=HANDLER[,timeout=SECONDS]`` from the command line; handlers resolve against the current directory."""
    name, sep, rest = flag.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"--lambda: expected NAME=HANDLER, got {flag!r}")
    handler, *opts = rest.split(",")
    spec: dict[str, Any] = {"handler": handler}
    for o in opts:
        k, _, v = o.partition("=")
        if k != "timeout":
            raise ConfigError(f"--lambda {name}: unknown option {k!r} (only timeout=SECONDS)")
        try:
            spec["timeout"] = float(v)
        except ValueError:
            raise ConfigError(f"--lambda {name}: timeout must be a number of seconds, got {v!r}") from None
    target, sep, attr = handler.rpartition(":")
    if sep and target.endswith((".py", *NODE_SUFFIXES)):
        # A handler file is its function's code, as a Lambda package is: its folder is the code directory
        # (/var/task in stack traces, first on sys.path), wherever the command was started from.
        path = (Path.cwd() / target).resolve()
        spec["handler"], spec["code_dir"] = f"{path.name}:{attr}", str(path.parent)
        # modules beside it come first; the project's, from where the command started, still import
        return replace(_function(name, spec, f"--lambda {name}", Path.cwd()), import_path=(str(Path.cwd()),))
    return _function(name, spec, f"--lambda {name}", Path.cwd())
