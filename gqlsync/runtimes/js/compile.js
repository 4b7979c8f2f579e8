// gqlsync's APPSYNC_JS loader: parses a resolver module with acorn (vendor/acorn.js, loaded before this file),
// checks it against the runtime's documented restrictions and turns it into a script QuickJS can evaluate.
// The script keeps every statement on its original line, so engine errors point into the user's file.
//
// The time budget is cooperative (the QuickJS binding cannot call Python while its own time limit is set): every
// function body and every for-of/for-in body starts with a call to the tick function the runtime passes in, which
// stops the handler once its deadline has passed. AppSync's restrictions make that complete for user code: no
// while, do-while or C-style for, no generators, and no try/catch to swallow the stop.
"use strict";

var __gqlsync_compile = (function () {
  const LIBRARIES = ["@aws-appsync/utils", "@aws-appsync/utils/dynamodb"];
  const WHY = {
    TryStatement: "try/catch/finally is not supported by APPSYNC_JS",
    ThrowStatement: "throw is not supported by APPSYNC_JS; use util.error()",
    WhileStatement: "while loops are not supported by APPSYNC_JS; use for-of or for-in",
    DoWhileStatement: "do-while loops are not supported by APPSYNC_JS; use for-of or for-in",
    ForStatement: "for(initialization; condition; afterthought) loops are not supported by APPSYNC_JS; use for-of or for-in",
    ContinueStatement: "continue is not supported by APPSYNC_JS",
    LabeledStatement: "labeled statements are not supported by APPSYNC_JS",
    ClassDeclaration: "classes are not supported by APPSYNC_JS",
    ClassExpression: "classes are not supported by APPSYNC_JS",
    AwaitExpression: "await is not supported by APPSYNC_JS (no promises or async code)",
    YieldExpression: "generators are not supported by APPSYNC_JS",
    ImportExpression: "dynamic import() is not supported by APPSYNC_JS",
    ExportDefaultDeclaration: "export default is not supported; export named request and response functions",
    ExportAllDeclaration: "re-exports are not supported; export named request and response functions",
    WithStatement: "with is not supported by APPSYNC_JS",
    DebuggerStatement: "debugger is not supported by APPSYNC_JS",
  };

  const TICK = "__gqlsyncTick";
  let seq = 0;

  // Where to call the tick function: openings are inserted before a position, closings after it.
  function instrument(node, inserts) {
    const t = node.type;
    const open = (pos, text) => inserts.push({ pos, closing: false, seq: seq++, text });
    const close = (pos, text) => inserts.push({ pos, closing: true, seq: seq++, text });
    if (t === "FunctionDeclaration" || t === "FunctionExpression" ||
        (t === "ArrowFunctionExpression" && node.body.type === "BlockStatement")) {
      open(node.body.start + 1, `${TICK}();`);
    } else if (t === "ArrowFunctionExpression") {
      open(node.body.start, `(${TICK}(), `);
      close(node.body.end, ")");
    } else if (t === "ForOfStatement" || t === "ForInStatement") {
      if (node.body.type === "BlockStatement") {
        open(node.body.start + 1, `${TICK}();`);
      } else {
        open(node.body.start, `{${TICK}();`);
        close(node.body.end, "}");
      }
    }
  }

  // The AST nodes directly under `node`, in source order.
  function* children(node) {
    for (const key of Object.keys(node)) {
      if (key === "loc" || key === "start" || key === "end") continue;
      const v = node[key];
      if (Array.isArray(v)) {
        for (const c of v) if (c && typeof c.type === "string") yield c;
      } else if (v && typeof v.type === "string") {
        yield v;
      }
    }
  }

  function check(node, parent, problems, inserts) {
    const t = node.type;
    instrument(node, inserts);
    let reason = WHY[t];
    if (t === "UpdateExpression") reason = `the ${node.operator} operator is not supported by APPSYNC_JS; use += 1 or -= 1`;
    else if (t === "UnaryExpression" && node.operator === "~") reason = "the ~ operator is not supported by APPSYNC_JS";
    else if (t === "BinaryExpression" && node.operator === "in") reason = "the in operator is not supported by APPSYNC_JS; use Object.hasOwn()";
    else if ((t === "FunctionDeclaration" || t === "FunctionExpression" || t === "ArrowFunctionExpression") && node.async)
      reason = "async functions are not supported by APPSYNC_JS";
    else if ((t === "FunctionDeclaration" || t === "FunctionExpression") && node.generator)
      reason = "generator functions are not supported by APPSYNC_JS";
    else if (t === "Identifier" && node.name.startsWith("__gqlsync"))
      reason = "names starting with __gqlsync are reserved";
    else if (t === "Identifier" && node.name === "Promise" && parent !== null &&
             !(parent.type === "MemberExpression" && parent.property === node && !parent.computed) &&
             !(parent.type === "Property" && parent.key === node && !parent.computed))
      reason = "promises are not supported by APPSYNC_JS";
    if (reason) problems.push({ line: node.loc.start.line, column: node.loc.start.column + 1, reason: reason });
    for (const c of children(node)) check(c, node, problems, inserts);
  }

  // Whether every run of the module takes time bounded by its text and its data, so the runtime may run it on the
  // event loop rather than hop to a worker thread (as VTL runs templates without #foreach inline). Bounded means: no
  // for-of/for-in; functions only as declarations (`function f`, `const f = () => ...`), never passed, stored or
  // returned as values (so no callbacks: map, forEach, reduce, replace with a function...); a declared function only
  // ever called directly, and no function reaching itself through such calls (no recursion); no eval/Function; no
  // regular expressions (backtracking) and no work sized by a number (Array(n), Array.from, repeat, padStart, fill),
  // which native code does without reaching a deadline check.
  // Built-in methods whose work is set by a number argument rather than by the size of the data they are given.
  const SIZED = new Set(["repeat", "padStart", "padEnd", "fill"]);

  function isBounded(ast) {
    const names = new Set();
    const walk = (node, parent, visit) => {
      visit(node, parent);
      for (const c of children(node)) walk(c, node, visit);
    };
    const isFn = (n) => n.type === "FunctionDeclaration" || n.type === "FunctionExpression" ||
                        n.type === "ArrowFunctionExpression";
    walk(ast, null, (node, parent) => {
      if (node.type === "FunctionDeclaration" && node.id) names.add(node.id.name);
      if (node.type === "VariableDeclarator" && node.id.type === "Identifier" && node.init && isFn(node.init))
        names.add(node.id.name);
    });
    let ok = true;
    const calls = new Map();  // function name -> names of declared functions it calls
    // `owner`: the declared function the node is written in (the nearest enclosing one), or null at top level
    const visitNode = (node, parent, owner) => {
      if (!ok) return;
      const t = node.type;
      if (t === "ForOfStatement" || t === "ForInStatement") ok = false;
      else if (t === "Identifier" && (node.name === "eval" || node.name === "Function" || node.name === "RegExp")) ok = false;
      else if (t === "Literal" && node.regex) ok = false;  // a pattern can backtrack for exponential time
      else if ((t === "CallExpression" || t === "NewExpression") && node.callee.type === "Identifier" &&
               node.callee.name === "Array") ok = false;  // Array(n): work set by a number, not by the data
      else if (t === "MemberExpression" && !node.computed && node.property.type === "Identifier" &&
               (SIZED.has(node.property.name) ||
                (node.object.type === "Identifier" && node.object.name === "Array" && node.property.name === "from")))
        ok = false;
      else if (isFn(node)) {
        const declared = t === "FunctionDeclaration" ||
          (parent && parent.type === "VariableDeclarator" && parent.init === node && parent.id.type === "Identifier");
        if (!declared) ok = false;
      } else if (t === "Identifier" && names.has(node.name) && parent) {
        const pt = parent.type;
        const asCallee = (pt === "CallExpression" && parent.callee === node);
        const asName = (pt === "FunctionDeclaration" && parent.id === node) ||
          (pt === "VariableDeclarator" && parent.id === node) ||
          (pt === "ExportSpecifier") ||
          (pt === "MemberExpression" && parent.property === node && !parent.computed) ||
          (pt === "Property" && parent.key === node && !parent.computed && !parent.shorthand);
        if (asCallee) {
          if (owner !== null) {
            if (!calls.has(owner)) calls.set(owner, new Set());
            calls.get(owner).add(node.name);
          }
        } else if (!asName) {
          ok = false;
        }
      }
    };
    // Attribute each call to the declared function it is written in (the nearest enclosing one).
    const attribute = (node, parent, owner) => {
      if (!ok) return;
      visitNode(node, parent, owner);
      let inner = owner;
      if (node.type === "FunctionDeclaration" && node.id) inner = node.id.name;
      else if (isFn(node) && parent && parent.type === "VariableDeclarator" && parent.id.type === "Identifier")
        inner = parent.id.name;
      for (const c of children(node)) attribute(c, node, inner);
    };
    attribute(ast, null, null);
    if (!ok) return false;
    // No cycle in the call graph of declared functions.
    const state = new Map();  // name -> 1 visiting, 2 done
    const cyclic = (name) => {
      if (state.get(name) === 2) return false;
      if (state.get(name) === 1) return true;
      state.set(name, 1);
      for (const next of calls.get(name) || []) if (cyclic(next)) return true;
      state.set(name, 2);
      return false;
    };
    for (const name of calls.keys()) if (cyclic(name)) return false;
    return true;
  }

  function lines(text) {
    let n = 0;
    for (const ch of text) if (ch === "\n") n += 1;
    return "\n".repeat(n);
  }

  function importLine(node, problems) {
    const source = node.source.value;
    if (LIBRARIES.indexOf(source) < 0) {
      problems.push({ line: node.loc.start.line, column: node.loc.start.column + 1,
                      reason: `cannot import '${source}': APPSYNC_JS modules import only ${LIBRARIES.join(" and ")}` });
      return "";
    }
    const lib = `__lib[${JSON.stringify(source)}]`;
    const named = [];
    const out = [];
    for (const s of node.specifiers) {
      if (s.type === "ImportSpecifier") {
        const imported = s.imported.type === "Identifier" ? s.imported.name : s.imported.value;
        named.push(`${JSON.stringify(imported)}: ${s.local.name}`);
      } else if (s.type === "ImportNamespaceSpecifier") {
        out.push(`const ${s.local.name} = ${lib};`);
      } else {
        out.push(`const ${s.local.name} = ${lib}.default;`);
      }
    }
    if (named.length) out.unshift(`const {${named.join(", ")}} = ${lib};`);
    return out.join(" ");
  }

  return function compile(source) {
    let ast;
    try {
      ast = acorn.parse(source, { ecmaVersion: "latest", sourceType: "module", locations: true });
    } catch (e) {
      const loc = e.loc || { line: 1, column: 0 };
      const message = String(e.message).replace(/ \(\d+:\d+\)$/, "");
      return JSON.stringify({ problems: [{ line: loc.line, column: loc.column + 1, reason: `syntax error: ${message}` }] });
    }
    const problems = [];
    const inserts = [];
    check(ast, null, problems, inserts);
    const edits = [];
    const exported = {};
    for (const node of ast.body) {
      if (node.type === "ImportDeclaration") {
        const text = source.slice(node.start, node.end);
        edits.push([node.start, node.end, importLine(node, problems) + lines(text)]);
      } else if (node.type === "ExportNamedDeclaration") {
        if (node.source) {
          problems.push({ line: node.loc.start.line, column: node.loc.start.column + 1,
                          reason: "re-exports are not supported; export named request and response functions" });
        } else if (node.declaration) {
          edits.push([node.start, node.declaration.start, lines(source.slice(node.start, node.declaration.start))]);
          const d = node.declaration;
          if (d.type === "FunctionDeclaration") exported[d.id.name] = d.id.name;
          else if (d.type === "VariableDeclaration")
            for (const v of d.declarations) if (v.id.type === "Identifier") exported[v.id.name] = v.id.name;
        } else {
          for (const s of node.specifiers) {
            const name = s.exported.type === "Identifier" ? s.exported.name : s.exported.value;
            exported[name] = s.local.name;
          }
          edits.push([node.start, node.end, lines(source.slice(node.start, node.end))]);
        }
      }
    }
    if (problems.length) return JSON.stringify({ problems: problems });
    // Apply from the end backwards. At one position, openings go in before closings (so a closing stays left of
    // the next node's opening); among openings the outer one last (leftmost), among closings the inner one last.
    for (const i of inserts) edits.push([i.pos, i.pos, i.text, i.closing, i.seq]);
    edits.sort((a, b) => {
      if (a[0] !== b[0]) return b[0] - a[0];
      const ka = a[3] === undefined ? 2 : a[3] ? 1 : 0;
      const kb = b[3] === undefined ? 2 : b[3] ? 1 : 0;
      if (ka !== kb) return ka - kb;
      return ka === 0 ? b[4] - a[4] : a[4] - b[4];
    });
    let body = source;
    for (const [start, end, text] of edits) body = body.slice(0, start) + text + body.slice(end);
    const halves = [];
    for (const half of ["request", "response"]) {
      if (Object.hasOwn(exported, half)) halves.push(`${half}: ${exported[half]}`);
    }
    const script = `(function (__lib, ${TICK}) { "use strict"; ${body}\n;return {${halves.join(", ")}};\n})`;
    return JSON.stringify({ problems: [], script: script, exports: Object.keys(exported), bounded: isBounded(ast) });
  };
})();
