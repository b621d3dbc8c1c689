// An ES module handler for tests/test_lambda_node.py.
export const handler = async (event) => ({ esm: true, doubled: event.n * 2 });
