// Node.js Lambda handlers for tests/test_lambda_node.py, run by asl's Node.js runtime emulation (CommonJS).
let calls = 0;

exports.echo = async (event, context) => {
  console.log("event for", context.functionName);
  return { event, functionName: context.functionName, memory: context.memoryLimitInMB,
           arn: context.invokedFunctionArn, requestId: context.awsRequestId,
           remaining: context.getRemainingTimeInMillis() > 0, env: process.env.GREETING ?? null };
};

exports.count = async () => ({ calls: ++calls, pid: process.pid });

exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { viaCallback: event }), 5);
};

exports.fail = async () => {
  class OrderError extends Error {
    constructor(message) { super(message); this.name = "OrderError"; }
  }
  throw new OrderError("out of stock");
};

exports.slow = async () => new Promise((resolve) => setTimeout(() => resolve("late"), 5000));

exports.nothing = async () => undefined;
