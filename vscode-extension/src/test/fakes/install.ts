// Makes `require("vscode")` and `require("vscode-languageclient/node")`
// return the fakes, so that the extension runs unchanged under plain node.
// Import it before the extension.

import Module from "node:module";

const fakes: Record<string, string> = {
  vscode: require.resolve("./vscode"),
  "vscode-languageclient/node": require.resolve("./languageclient"),
};

type ResolveFilename = (this: unknown, request: string, ...rest: unknown[]) => string;
const loader = Module as unknown as { _resolveFilename: ResolveFilename };
const resolve = loader._resolveFilename;
loader._resolveFilename = function (request, ...rest) {
  return fakes[request] ?? resolve.call(this, request, ...rest);
};
