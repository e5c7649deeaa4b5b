// Shared helpers for the Ketang pages: API calls, safe DOM building, formatting.
// No innerHTML anywhere: every piece of text goes in through text nodes.
"use strict";

/** A failed API call: HTTP status plus the problem+json body (code, detail, errors, violations). */
class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || "HTTP " + status);
    this.status = status;
    this.problem = problem || {};
  }
}

/**
 * Calls the API with the session cookie. `body` may be a plain object (sent as JSON) or a
 * Blob/File (sent raw with opts.type). Resolves to the parsed JSON (or null); rejects with
 * ApiError, or with a TypeError-derived ApiError(0) when the network fails.
 */
async function api(method, path, body, opts) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body instanceof Blob) {
    init.body = body;
    init.headers["Content-Type"] = (opts && opts.type) || body.type || "application/octet-stream";
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { code: "network", detail: "无法连接服务器 Cannot reach the server" });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = { detail: text.slice(0, 300) }; }
  }
  if (!res.ok) {
    const problem = data && typeof data === "object" ? data : {};
    if (!problem.detail) problem.detail = "HTTP " + res.status;
    if (res.status === 429 && !/\d/.test(problem.detail)) {
      const after = res.headers.get("Retry-After");
      if (after) problem.detail += " (" + after + " s)";
    }
    throw new ApiError(res.status, problem);
  }
  return data;
}

/**
 * Builds an element. attrs: plain attributes, plus `class`, `text`, `on<event>` handlers,
 * and boolean properties (checked, disabled, required, hidden…). Children: nodes or strings
 * (strings become text nodes), null/false skipped, arrays flattened.
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) { el.setAttribute(k, ""); if (k in el) el[k] = true; }
    else if (k === "value" && "value" in el) el.value = String(v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const dateTimeFmt = new Intl.DateTimeFormat("zh-CN", {
  year: "numeric", month: "2-digit", day: "2-digit", weekday: "short",
  hour: "2-digit", minute: "2-digit", hour12: false,
});
const timeFmt = new Intl.DateTimeFormat("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false });

/** Local date and time of an RFC 3339 string or unix-ms number. */
function fmtDateTime(t) {
  const d = new Date(t);
  return isNaN(d) ? String(t) : dateTimeFmt.format(d);
}

/** A session's span in local time: "2026/12/14 周一 09:00 – 12:00". */
function fmtSpan(start, end) {
  const s = new Date(start), e = new Date(end);
  if (isNaN(s) || isNaN(e)) return start + " – " + end;
  const sameDay = s.toDateString() === e.toDateString();
  return dateTimeFmt.format(s) + " – " + (sameDay ? timeFmt.format(e) : dateTimeFmt.format(e));
}

/** The field errors of a problem as a list of {field, reason, row?, code?}. */
function problemErrors(err) {
  const p = (err && err.problem) || {};
  return Array.isArray(p.errors) ? p.errors : [];
}

/** One line for a problem: its detail, or a plain request to fix the fields it lists. */
function problemSummary(err) {
  return err.status === 422 && problemErrors(err).length
    ? "请更正标出的问题。 Please correct the marked fields." : err.message;
}

/** Chinese labels for field names used in problems. */
const FIELD_LABELS = {
  name: "姓名 / 名称", id_number: "身份证号", mobile: "手机号", household_place: "户籍所在地",
  password: "密码", institution_id: "机构编号", id_front: "身份证正面", id_back: "身份证反面",
  photo: "本人照片", lecturer_id: "讲师", sessions: "课次", course_type: "课程类型",
  reason: "退回理由", assistant_ids: "助教",
};

function fieldLabel(f) {
  const m = /^sessions\[(\d+)\]$/.exec(f || "");
  if (m) return "第 " + (Number(m[1]) + 1) + " 次课";
  return FIELD_LABELS[f] || f || "";
}
