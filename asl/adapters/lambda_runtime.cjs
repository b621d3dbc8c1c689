// The process a local Node.js Lambda function runs in (started by asl/adapters/lambda_local.py), as Lambda's
// Node.js runtime runs a handler: `node lambda_runtime.cjs FILE:EXPORT CODE_DIR`.
//
// It loads the handler once (a CommonJS or an ES module: import() takes both) and then serves invocations, one JSON
// line in on standard input ({"event": JSON text, "context": {...}}), one JSON line out on standard output
// ({"payload": JSON text} or {"error": {...}}, with "logs"). What the handler prints (console.*, process.stdout
// and process.stderr writes) is captured per invocation and returned with the answer, as Lambda sends it to
// CloudWatch Logs. A handler may be async (its promise's value is the result) or take a callback, as Lambda's
// runtime allows; an error becomes {errorType: its name, errorMessage, trace}, as Lambda's Node.js runtime reports it.
"use strict";

const path = require("node:path");
const readline = require("node:readline");
const { pathToFileURL } = require("node:url");
const util = require("node:util");

const [spec, codeDir] = process.argv.slice(2);
const protocolWrite = process.stdout.write.bind(process.stdout);
let logs = null; // the current invocation's captured output (null between invocations: then it goes to stderr)

function capture(stream, fallback) {
  return (chunk, encoding, callback) => {
    if (logs === null) return fallback(chunk, encoding, callback);
    logs += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    if (typeof encoding === "function") encoding();
    else if (typeof callback === "function") callback();
    return true;
  };
}
const stderrWrite = process.stderr.write.bind(process.stderr);
process.stdout.write = capture(process.stdout, stderrWrite);
process.stderr.write = capture(process.stderr, stderrWrite);
for (const level of ["log", "info", "warn", "error", "debug", "trace"]) {
  console[level] = (...args) => process.stdout.write(util.format(...args) + "\n");
}

const TASK_ROOT = "/var/task"; // where Lambda puts a function's code: stack traces name files under it
const root = path.resolve(codeDir);

// A stack's lines as Lambda shows them: this runtime's own frames left out, the code directory as /var/task.
function traceOf(stack) {
  return stack.split("\n").filter((line) => !line.includes(__filename))
    .map((line) => line.split(pathToFileURL(root).href).join("file://" + TASK_ROOT).split(root).join(TASK_ROOT));
}

function errorOf(err) {
  if (err instanceof Error) {
    const trace = typeof err.stack === "string" ? traceOf(err.stack) : [];
    return { errorType: err.name || err.constructor?.name || "Error", errorMessage: err.message, trace };
  }
  if (typeof err === "string") return { errorType: "string", errorMessage: err, trace: [] };
  return { errorType: typeof err, errorMessage: util.format(err), trace: [] };
}

async function loadHandler() {
  const colon = spec.lastIndexOf(":");
  const file = spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  const where = path.isAbsolute(file) ? file : path.join(codeDir, file);
  let mod;
  try {
    mod = await import(pathToFileURL(where).href);
  } catch (err) {
    // as Lambda's Node.js runtime reports a module that cannot load: a missing module, code that does not parse,
    // or the error the module's own code threw
    const e = errorOf(err);
    if (err instanceof SyntaxError) return { initError: { ...e, errorType: "Runtime.UserCodeSyntaxError",
                                                          errorMessage: `${e.errorType}: ${e.errorMessage}` } };
    if (err && (err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND")) {
      return { initError: { errorType: "Runtime.ImportModuleError",
                            errorMessage: `${e.errorType}: ${e.errorMessage}`.split(root).join(TASK_ROOT), trace: e.trace } };
    }
    return { initError: e };
  }
  const handler = mod[name] ?? mod.default?.[name];
  if (typeof handler !== "function") {
    return { initError: { errorType: "Runtime.HandlerNotFound",
                          errorMessage: `${path.basename(file).replace(/\.[^.]+$/, "")}.${name} is undefined or not exported`,
                          trace: [] } };
  }
  return { handler };
}

function contextOf(meta) {
  const deadline = Date.now() + Number(meta.timeout) * 1000;
  return {
    functionName: meta.function_name,
    functionVersion: meta.function_version ?? "$LATEST",
    invokedFunctionArn: meta.invoked_function_arn,
    memoryLimitInMB: String(meta.memory ?? 128),
    awsRequestId: meta.request_id,
    logGroupName: `/aws/lambda/${meta.function_name}`,
    logStreamName: "local",
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// The handler's outcome: its promise's, or its callback's (whichever comes first), or its return value.
function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, value) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(value);
    };
    context.done = done;
    context.succeed = (value) => done(null, value);
    context.fail = (err) => done(err ?? "handled");
    try {
      const out = handler(event, context, done);
      if (out && typeof out.then === "function") out.then((v) => done(null, v), (e) => done(e ?? "rejected"));
      else if (handler.length < 3) done(null, out);
    } catch (err) {
      done(err);
    }
  });
}

async function main() {
  const { handler, initError } = await loadHandler();
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    const request = JSON.parse(line);
    const answer = {};
    logs = "";
    if (initError) {
      answer.error = initError;
    } else {
      const context = contextOf(request.context);
      try {
        const result = await invoke(handler, JSON.parse(request.event), context);
        const text = JSON.stringify(result === undefined ? null : result);
        answer.payload = text === undefined ? "null" : text;
      } catch (err) {
        answer.error = errorOf(err);
      }
    }
    answer.logs = logs;
    logs = null;
    protocolWrite(JSON.stringify(answer) + "\n");
  }
}

main().catch((err) => {
  stderrWrite(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
