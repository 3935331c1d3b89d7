// Renders /api/openapi.json as a list of operations: no framework, no network but the document.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

function resolve(doc, schema, depth = 0) {
  // inline $ref'd components (a few levels deep) so that each operation reads on its own
  if (depth > 4 || schema === null || typeof schema !== "object") return schema;
  if (Array.isArray(schema)) return schema.map((s) => resolve(doc, s, depth));
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return resolve(doc, doc.components.schemas[name], depth + 1);
  }
  const out = {};
  for (const [k, v] of Object.entries(schema)) out[k] = resolve(doc, v, depth);
  return out;
}

function block(title, value) {
  return el("div", {}, el("h4", {}, title), el("pre", {}, JSON.stringify(value, null, 2)));
}

function operation(doc, path, method, op) {
  const body = el("div", {});
  if (op.description) body.append(el("p", {}, op.description));
  if (op.parameters) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"),
      el("th", {}, "schema")));
    for (const p of op.parameters) {
      table.append(el("tr", {}, el("td", {}, p.name), el("td", {}, p.in),
        el("td", {}, JSON.stringify(p.schema) + (p.description ? " — " + p.description : ""))));
    }
    body.append(el("h4", {}, "Parameters"), table);
  }
  if (op.requestBody) {
    // JSON bodies, and raw ones (a file upload: application/octet-stream)
    const [type, media] = Object.entries(op.requestBody.content || {})[0] || ["", {}];
    body.append(block(`Request body (${type})`, resolve(doc, media.schema || null)));
  }
  for (const [status, response] of Object.entries(op.responses)) {
    const content = response.content || {};
    const first = Object.keys(content)[0];
    const schema = first ? resolve(doc, content[first].schema || null) : null;
    body.append(block(`${status} ${response.description}`, schema));
  }
  const roles = (op["x-roles"] || []).join(", ");
  return el("details", { class: "op" },
    el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("span", { class: "path" }, path), el("span", {}, op.summary || ""),
      el("span", { class: "roles" }, roles)),
    body);
}

async function main() {
  const root = document.getElementById("api");
  const doc = await (await fetch("/api/openapi.json")).json();
  root.textContent = "";
  root.append(el("p", {}, doc.info.description));
  const schemes = el("ul", {});
  for (const [name, s] of Object.entries(doc.components.securitySchemes || {})) {
    schemes.append(el("li", {}, el("strong", {}, name), ": " + s.description));
  }
  root.append(el("h2", {}, "Authentication"), schemes);
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, path, method, op));
    }
  }
  for (const [tag, ops] of byTag) root.append(el("h2", {}, tag), ...ops);
}

main().catch((err) => {
  document.getElementById("api").textContent = "Could not load the document: " + err;
});
