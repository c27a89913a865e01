// The dev profile's GraphQL IDE: no framework, no network beyond this
// gateway. The examples are the customer-facing docs' own, verbatim.
"use strict";

const $ = (id) => document.getElementById(id);

async function loadExamples() {
  const resp = await fetch("examples.json");
  const examples = await resp.json();
  const menu = $("examples");
  examples.forEach((ex, i) => {
    const opt = document.createElement("option");
    opt.value = String(i);
    opt.textContent = ex.name;
    menu.appendChild(opt);
  });
  menu.addEventListener("change", () => {
    const ex = examples[Number(menu.value)];
    if (menu.value !== "" && ex) {
      $("query").value = ex.query;
      $("variables").value = "{}";
    }
  });
}

function parseObject(field, text) {
  if (text.trim() === "") {
    return {};
  }
  const v = JSON.parse(text);
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new Error(field + " must be a JSON object");
  }
  return v;
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function run() {
  let variables, extra;
  try {
    variables = parseObject("Variables", $("variables").value);
    extra = parseObject("Other headers", $("headers").value);
  } catch (e) {
    setStatus(e.message, true);
    return;
  }
  const headers = Object.assign({}, extra, { "Content-Type": "application/json" });
  const auth = $("authorization").value.trim();
  if (auth !== "") {
    headers["Authorization"] = auth.startsWith("Bearer ") ? auth : "Bearer " + auth;
  }
  const idem = $("idempotency-key").value.trim();
  if (idem !== "") {
    headers["Idempotency-Key"] = idem;
  }
  setStatus("running…", false);
  $("run").disabled = true;
  try {
    const resp = await fetch("../graphql", {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: $("query").value, variables: variables }),
    });
    const text = await resp.text();
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
      // not JSON: show it as it came
    }
    $("result").textContent = shown;
    const rid = resp.headers.get("X-Request-Id");
    setStatus(resp.status + " " + resp.statusText + (rid ? " · request " + rid : ""), !resp.ok);
  } catch (e) {
    setStatus("request failed: " + e.message, true);
  } finally {
    $("run").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("run").addEventListener("click", run);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      run();
    }
  });
  loadExamples().catch((e) => setStatus("examples: " + e.message, true));
});
