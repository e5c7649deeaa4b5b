// Ketang dashboard: one page for every role, driven by GET /api/me.
"use strict";

const ROLE_LABELS = {
  admin: "机构管理员 Admin", regulator: "监管部门 Regulator", lecturer: "讲师 Lecturer",
  assistant: "助教 Assistant", student: "学员 Student",
};
const STATUS_LABELS = {
  draft: "草稿 Draft", submitted: "待备案 Submitted", filed: "已备案 Filed",
  live: "直播中 Live", finished: "已结课 Finished", archived: "已归档 Archived",
};
const COURSE_LABELS = { GYB: "GYB 产生你的企业想法", SYB: "SYB 创办你的企业" };
const ACTION_LABELS = {
  "auth.login": "登录", "user.create": "创建账号", "class.create": "创建班级",
  "class.sessions": "修改课次", "class.assistants": "设置助教", "class.enroll": "报名学员",
  "class.roster_import": "导入名单", "class.submit": "提交备案", "class.file": "备案通过",
  "class.return": "退回", "class.start": "开始上课", "class.finish": "结课",
  "class.archive": "归档", "lecturer.certificate.add": "登记讲师证书",
  "student.register": "学员注册", "student.photo.put": "上传照片",
  "regulator.read_roster": "查看名单", "regulator.read_student": "查看学员",
};
const ROSTER_TYPES = ["text/csv", "application/csv", "text/plain",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"];
const XLSX_TYPE = ROSTER_TYPES[3];

const state = { me: null, classes: [], staff: new Map(), assistants: [], institutions: new Map() };
const $ = (id) => document.getElementById(id);

/** api() that sends the user back to the login page when the session is gone. */
async function call(method, path, body, opts) {
  try {
    return await api(method, path, body, opts);
  } catch (e) {
    if (e.status === 401) location.replace("/");
    throw e;
  }
}

function notice(msg) { $("problem").textContent = ""; $("notice").textContent = msg; }
function problem(msg) { $("notice").textContent = ""; $("problem").textContent = msg; }

// ---------- dialogs ----------

/** Moves focus back to `el`, or to its re-rendered twin (same data-key), or to <main>. */
function refocus(el) {
  const key = el && el.dataset && el.dataset.key;
  const target = el && el.isConnected ? el : key ? byKey(key) : null;
  (target || $("main")).focus();
}

/** The control with this data-key, else the heading of its class card (key "c<id>-…"). */
function byKey(key) {
  const m = /^c(\d+)-/.exec(key);
  return document.querySelector('[data-key="' + CSS.escape(key) + '"]') || (m && $("class-" + m[1]));
}

/**
 * Opens a modal dialog; returns {dialog, body, close}. Focus goes back to the opener on close.
 * dialog.guard, if set, is asked (returns true to allow) before the user closes it.
 */
function openDialog(title, ...content) {
  const opener = document.activeElement;
  const titleId = "dlg-" + Math.random().toString(36).slice(2);
  const body = h("div", { class: "dlg-body" }, content);
  const tryClose = () => { if (!dialog.guard || dialog.guard()) dialog.close(); };
  const dialog = h("dialog", { "aria-labelledby": titleId },
    h("div", { class: "dlg-head" },
      h("h2", { id: titleId, text: title }),
      h("button", { type: "button", class: "secondary", onclick: tryClose }, "关闭 Close")),
    body);
  dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); tryClose(); });
  dialog.addEventListener("close", () => {
    dialog.remove();
    refocus(opener);
  });
  document.body.appendChild(dialog);
  dialog.showModal();
  const first = body.querySelector("input, select, textarea");
  if (first) first.focus();
  return { dialog, body, close: () => dialog.close() };
}

/** A labelled form field; returns {wrap, input, error}. */
function field(id, label, input, hint) {
  input.id = id;
  const error = h("p", { class: "field-error", id: id + "-err" });
  input.setAttribute("aria-describedby", id + "-err");
  return {
    wrap: h("div", { class: "field" }, h("label", { for: id }, label, hint && h("span", { class: "hint", text: hint })), input, error),
    input, error,
  };
}

function setFieldError(f, msg) {
  f.error.textContent = msg || "";
  if (msg) f.input.setAttribute("aria-invalid", "true"); else f.input.removeAttribute("aria-invalid");
}

/** Lists field errors no specific slot took (field: reason). */
function errorList(errors) {
  if (!errors.length) return null;
  return h("ul", {}, errors.map((e) => h("li", {}, (e.row ? "第 " + e.row + " 行 " : "") + fieldLabel(e.field) + "：" + e.reason)));
}

function table(headers, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption && h("caption", { class: "visually-hidden", text: caption }),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => c instanceof Node ? c : h("td", {}, c)))))));
}

// ---------- start-up ----------

async function init() {
  try {
    state.me = await call("GET", "/api/me");
  } catch (e) {
    if (e.status !== 401) problem("无法加载账号 Could not load your account: " + e.message);
    return;
  }
  const me = state.me;
  document.title = "课堂 Ketang · " + me.display_name;
  replace($("who"),
    h("span", {}, h("strong", { text: me.display_name }), " ", h("span", { class: "muted small", text: me.username })),
    h("span", { class: "role", text: ROLE_LABELS[me.role] || me.role }),
    h("button", { type: "button", class: "secondary", onclick: passwordDialog }, "修改密码 Password"),
    h("button", { type: "button", class: "secondary", onclick: logout }, "退出 Log out"));
  if (me.must_change_password) showPasswordBanner();

  const filter = $("status-filter");
  append(filter, [h("option", { value: "" }, "全部状态 All statuses"),
    Object.entries(STATUS_LABELS).map(([k, v]) => h("option", { value: k }, v))]);
  filter.addEventListener("change", renderClasses);
  $("refresh").addEventListener("click", () => loadClasses().then((ok) => ok && notice("已刷新 Refreshed")));

  const actions = $("role-actions");
  if (me.role === "admin") {
    actions.appendChild(h("button", { type: "button", onclick: createClassDialog }, "＋ 新建班级 New class"));
  }
  if (me.role === "regulator") {
    actions.appendChild(h("button", { type: "button", onclick: () => auditDialog() }, "审计日志 Audit log"));
  }
  if (me.role === "admin" || me.role === "regulator") {
    const [lecturers, assistants, institutions] = await Promise.all([
      call("GET", "/api/users?role=lecturer").catch(() => []),
      call("GET", "/api/users?role=assistant").catch(() => []),
      call("GET", "/api/institutions").catch(() => []),
    ]);
    for (const u of lecturers.concat(assistants)) state.staff.set(u.id, u);
    state.assistants = assistants;
    for (const i of institutions) state.institutions.set(i.id, i);
  }
  await loadClasses();
}

function showPasswordBanner() {
  replace($("banner"), h("div", { class: "note", role: "note" },
    "您正在使用初始密码，请先修改密码。 You are using an initial password; please change it. ",
    h("button", { type: "button", class: "link", onclick: passwordDialog }, "修改密码 Change password")));
}

async function logout() {
  try { await api("POST", "/api/auth/logout"); } catch (e) { /* already logged out */ }
  location.replace("/");
}

async function loadClasses() {
  const box = $("classes");
  box.setAttribute("aria-busy", "true");
  try {
    state.classes = await call("GET", "/api/classes");
    renderClasses();
    return true;
  } catch (e) {
    if (e.status !== 401) replace(box, h("p", { class: "alert error", text: "无法加载班级 Could not load classes: " + e.message }));
    return false;
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

// ---------- class list ----------

function userName(id) {
  if (state.me && id === state.me.id) return state.me.display_name + "（我）";
  const u = state.staff.get(id);
  return u ? u.display_name + " (" + u.username + ")" : "#" + id;
}

function renderClasses() {
  const want = $("status-filter").value;
  const list = state.classes.filter((c) => !want || c.status === want);
  const box = $("classes");
  const key = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
  if (!list.length) {
    replace(box, h("p", { class: "empty" }, state.classes.length
      ? "没有该状态的班级。 No class has this status."
      : "暂无班级。 No classes yet."));
    return;
  }
  replace(box, h("ul", { class: "classes" }, list.map(classCard)));
  if (key && !document.querySelector("dialog")) {
    const again = byKey(key);
    if (again) again.focus();
  }
}

function classCard(c) {
  const role = state.me.role;
  const meta = [
    ["课程 Course", COURSE_LABELS[c.course_type] || c.course_type],
    role === "regulator" && ["机构 Institution", (state.institutions.get(c.institution_id) || {}).name || "#" + c.institution_id],
    (state.staff.has(c.lecturer_id) || c.lecturer_id === state.me.id) && ["讲师 Lecturer", userName(c.lecturer_id)],
    ["学员 Students", c.students + " 人"],
    ["助教 Assistants", c.assistant_ids.length
      ? (state.staff.size ? c.assistant_ids.map(userName).join("、") : c.assistant_ids.length + " 人")
      : "未设置 none"],
    c.submitted_at && ["提交 Submitted", fmtDateTime(c.submitted_at)],
    c.filed_at && ["备案 Filed", fmtDateTime(c.filed_at)],
  ].filter(Boolean);

  const sessionItems = c.sessions.map((s) => h("li", {}, fmtSpan(s.starts_at, s.ends_at)));
  const sessionsTitle = "课次 Sessions（" + c.sessions.length + "）";
  let sessions;
  if (!c.sessions.length) sessions = h("p", { class: "muted small" }, "尚未排课 No sessions scheduled");
  else if (c.sessions.length <= 4) sessions = [h("h3", { text: sessionsTitle }), h("ol", { class: "sessions" }, sessionItems)];
  else sessions = h("details", {}, h("summary", { text: sessionsTitle }), h("ol", { class: "sessions" }, sessionItems));

  return h("li", { class: "card", "aria-labelledby": "class-" + c.id },
    h("h2", { id: "class-" + c.id, tabindex: "-1" }, c.name),
    h("div", {}, h("span", { class: "badge " + c.status, text: STATUS_LABELS[c.status] || c.status }),
      " ", h("span", { class: "muted small", text: "编号 #" + c.id })),
    c.return_reason && c.status === "draft" && h("p", { class: "note" }, "退回理由 Returned: " + c.return_reason),
    h("dl", { class: "meta" }, meta.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])),
    sessions,
    h("div", { class: "actions" }, classActions(c)));
}

function btn(key, label, onclick, cls) {
  return h("button", { type: "button", class: cls || "secondary", "data-key": key, onclick }, label);
}

function classActions(c) {
  const role = state.me.role;
  const k = "c" + c.id + "-";
  const out = [];
  if (role === "admin" && c.status === "draft") {
    out.push(btn(k + "roster", "导入名单 Roster", () => rosterDialog(c)),
      btn(k + "assistants", "助教 Assistants", () => assistantsDialog(c)),
      btn(k + "sessions", "课次 Sessions", () => sessionsDialog(c)),
      btn(k + "submit", "提交备案 Submit", (ev) => submitClass(c, ev.currentTarget), "primary"));
  }
  if (role === "regulator" && c.status === "submitted") {
    out.push(btn(k + "file", "备案通过 File", (ev) => fileClass(c, ev.currentTarget), "primary"),
      btn(k + "return", "退回 Return", () => returnDialog(c), "danger"));
  }
  if ((role === "lecturer" || role === "admin") && c.status === "filed") {
    out.push(btn(k + "start", "开始上课 Start", (ev) => lifecycle(c, "start", ev.currentTarget), "primary"));
  }
  if ((role === "lecturer" || role === "admin") && c.status === "live") {
    out.push(btn(k + "finish", "结束课程 Finish", (ev) => lifecycle(c, "finish", ev.currentTarget), "danger"));
  }
  if (role !== "student") out.push(btn(k + "students", "学员名单 Students", () => studentsDialog(c)));
  if (role === "regulator") out.push(btn(k + "audit", "审计 Audit", () => auditDialog(c)));
  return out;
}

/** Runs a class action with the button disabled; refreshes the list afterwards. */
async function withButton(button, fn) {
  const key = button && button.dataset.key;
  if (button) button.disabled = true;
  try {
    await fn();
  } finally {
    if (button && button.isConnected) button.disabled = false;
    // A disabled or re-rendered button loses focus: put it back on the same control or card.
    const lost = !document.activeElement || document.activeElement === document.body;
    if (key && lost && !document.querySelector("dialog")) {
      const target = byKey(key);
      if (target) target.focus();
    }
  }
}

// ---------- lifecycle actions ----------

async function submitClass(c, button) {
  await withButton(button, async () => {
    try {
      await call("POST", "/api/classes/" + c.id + "/submit");
      notice("「" + c.name + "」已提交备案。 Submitted for filing.");
      await loadClasses();
    } catch (e) {
      const v = (e.problem && e.problem.violations) || [];
      if (!v.length) return problem("提交失败 Submit failed: " + e.message);
      button.disabled = false;
      button.focus(); // so the dialog hands focus back here
      openDialog("未能提交备案 Not submitted",
        h("p", { class: "alert error", role: "alert", text: e.message }),
        h("p", {}, "「" + c.name + "」不符合以下备案规则，请修改后再提交： The class breaks these filing rules:"),
        h("ol", {}, v.map((x) => h("li", {}, x.message, " ", h("span", { class: "muted small mono", text: "(" + x.code + ")" })))));
    }
  });
}

async function fileClass(c, button) {
  if (!confirm("确认为「" + c.name + "」办理备案？ File this class?")) return;
  await withButton(button, async () => {
    try {
      await call("POST", "/api/classes/" + c.id + "/file");
      notice("「" + c.name + "」已备案。 Filed.");
      await loadClasses();
    } catch (e) { problem("备案失败 Filing failed: " + e.message); }
  });
}

async function lifecycle(c, action, button) {
  const q = action === "start" ? "开始「" + c.name + "」的直播教学？ Start live teaching?"
    : "结束「" + c.name + "」的直播教学？此操作不可撤销。 Finish live teaching? This cannot be undone.";
  if (!confirm(q)) return;
  await withButton(button, async () => {
    try {
      await call("POST", "/api/classes/" + c.id + "/" + action);
      notice("「" + c.name + "」" + (action === "start" ? "已开始上课。 Started." : "已结课。 Finished."));
      await loadClasses();
    } catch (e) { problem("操作失败 Failed: " + e.message); }
  });
}

function returnDialog(c) {
  const err = h("div", { class: "alert error", role: "alert" });
  const reason = field("return-reason", "退回理由 Reason", h("textarea", { required: true, maxlength: "1000" }),
    "将显示给培训机构（1–1000 字） Shown to the institution");
  const save = h("button", { type: "submit", class: "danger" }, "退回 Return");
  const form = h("form", { novalidate: true }, err, reason.wrap, h("div", { class: "actions" }, save));
  const d = openDialog("退回备案：" + c.name, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const text = reason.input.value.trim();
    setFieldError(reason, text ? "" : "请填写退回理由 Enter a reason");
    if (!text) return reason.input.focus();
    await withButton(save, async () => {
      try {
        await call("POST", "/api/classes/" + c.id + "/return", { reason: text });
        d.close();
        notice("「" + c.name + "」已退回。 Returned to the institution.");
        await loadClasses();
      } catch (e) {
        const fe = problemErrors(e).find((x) => x.field === "reason");
        if (fe) setFieldError(reason, fe.reason);
        err.textContent = e.message;
      }
    });
  });
}

// ---------- sessions editor ----------

const pad = (n) => String(n).padStart(2, "0");
function localDate(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
function localTime(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()); }
/** RFC 3339 with the browser's UTC offset, e.g. 2026-12-14T09:00:00+08:00. */
function rfc3339(d) {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const a = Math.abs(off);
  return localDate(d) + "T" + localTime(d) + ":00" + sign + pad(Math.floor(a / 60)) + ":" + pad(a % 60);
}

/** Rows of date + start + end; read() returns {sessions, ok}; showErrors() takes server errors. */
function sessionsEditor(initial) {
  const rows = [];
  const list = h("div", {});
  const general = h("p", { class: "field-error" });
  let seq = 0;
  function addRow(s) {
    const n = ++seq;
    const start = s ? new Date(s.starts_at) : null;
    const end = s ? new Date(s.ends_at) : null;
    const date = h("input", { type: "date", id: "s-date-" + n, value: start ? localDate(start) : "" });
    const from = h("input", { type: "time", id: "s-from-" + n, value: start ? localTime(start) : "" });
    const to = h("input", { type: "time", id: "s-to-" + n, value: end ? localTime(end) : "" });
    const error = h("p", { class: "field-error", id: "s-err-" + n });
    for (const i of [date, from, to]) i.setAttribute("aria-describedby", "s-err-" + n);
    const row = { date, from, to, error };
    row.fail = (msg) => {
      error.textContent = msg || "";
      for (const i of [date, from, to]) {
        if (msg) i.setAttribute("aria-invalid", "true"); else i.removeAttribute("aria-invalid");
      }
    };
    const node = h("div", { class: "session-row", role: "group", "aria-label": "课次 Session" },
      h("div", {}, h("label", { for: date.id }, "日期 Date"), date),
      h("div", {}, h("label", { for: from.id }, "开始 Start"), from),
      h("div", {}, h("label", { for: to.id }, "结束 End"), to),
      h("button", { type: "button", class: "link", "aria-label": "删除此课次 Remove this session", onclick: () => {
        rows.splice(rows.indexOf(row), 1);
        node.remove();
        if (!rows.length) addRow();
      } }, "删除"),
      error);
    row.node = node;
    rows.push(row);
    list.appendChild(node);
    return row;
  }
  (initial && initial.length ? initial : [null]).forEach(addRow);
  const node = h("fieldset", {}, h("legend", {}, "课次 Sessions ", h("span", { class: "en", text: "(local time 本地时间)" })),
    list, general,
    h("button", { type: "button", class: "secondary", onclick: () => addRow().date.focus() }, "＋ 添加课次 Add session"));
  let used = [];
  return {
    node,
    read() {
      let ok = true;
      used = [];
      const sessions = [];
      general.textContent = "";
      for (const r of rows) {
        r.fail("");
        const vals = [r.date.value, r.from.value, r.to.value];
        if (vals.every((v) => !v)) continue;
        if (vals.some((v) => !v)) { r.fail("请填写日期、开始和结束时间 Fill in date, start and end"); ok = false; continue; }
        const s = new Date(r.date.value + "T" + r.from.value), e = new Date(r.date.value + "T" + r.to.value);
        if (e <= s) { r.fail("结束时间须晚于开始时间 End must be after start"); ok = false; continue; }
        used.push(r);
        sessions.push({ starts_at: rfc3339(s), ends_at: rfc3339(e) });
      }
      return { sessions, ok };
    },
    /** Places sessions / sessions[i] errors; returns the errors it did not place. */
    showErrors(errors) {
      return errors.filter((e) => {
        const m = /^sessions\[(\d+)\]$/.exec(e.field || "");
        if (m && used[Number(m[1])]) { used[Number(m[1])].fail(e.reason); return false; }
        if (e.field === "sessions") { general.textContent = e.reason; return false; }
        return true;
      });
    },
  };
}

// ---------- admin: create class, sessions, assistants, roster ----------

function createClassDialog() {
  const err = h("div", { class: "alert error", role: "alert" });
  const name = field("c-name", "班级名称 Class name", h("input", { type: "text", maxlength: "100", required: true }));
  const lecturer = field("c-lecturer", "讲师 Lecturer",
    h("select", { required: true },
      h("option", { value: "" }, "— 请选择 Choose —"),
      [...state.staff.values()].filter((u) => u.role === "lecturer")
        .map((u) => h("option", { value: u.id }, u.display_name + " (" + u.username + ")"))));
  const courseErr = h("p", { class: "field-error", id: "c-course-err" });
  const course = h("fieldset", { "aria-describedby": "c-course-err" }, h("legend", {}, "课程类型 Course type"),
    h("div", { class: "radio-row" }, ["SYB", "GYB"].map((t, i) =>
      h("label", { class: "check" }, h("input", { type: "radio", name: "course_type", value: t, checked: i === 0 }), COURSE_LABELS[t]))),
    courseErr);
  const sessions = sessionsEditor([]);
  const save = h("button", { type: "submit" }, "创建 Create");
  const form = h("form", { novalidate: true }, err, name.wrap, course, lecturer.wrap, sessions.node, h("div", { class: "actions" }, save));
  const d = openDialog("新建班级 New class", form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(err);
    setFieldError(name, name.input.value.trim() ? "" : "请填写班级名称 Enter a name");
    setFieldError(lecturer, lecturer.input.value ? "" : "请选择讲师 Choose a lecturer");
    courseErr.textContent = "";
    const sess = sessions.read();
    if (!name.input.value.trim() || !lecturer.input.value || !sess.ok) {
      const bad = form.querySelector("[aria-invalid=true]");
      if (bad) bad.focus();
      return;
    }
    const body = {
      name: name.input.value.trim(),
      course_type: form.querySelector("input[name=course_type]:checked").value,
      lecturer_id: Number(lecturer.input.value),
      sessions: sess.sessions,
    };
    await withButton(save, async () => {
      try {
        const c = await call("POST", "/api/classes", body);
        d.close();
        notice("已创建班级「" + c.name + "」（草稿）。 Class created as a draft.");
        await loadClasses();
      } catch (e) {
        const slots = { name, lecturer_id: lecturer };
        const rest = sessions.showErrors(problemErrors(e)).filter((x) => {
          if (slots[x.field]) { setFieldError(slots[x.field], x.reason); return false; }
          if (x.field === "course_type") { courseErr.textContent = x.reason; return false; }
          return true;
        });
        replace(err, problemSummary(e), errorList(rest));
        const bad = form.querySelector("[aria-invalid=true]");
        if (bad) bad.focus();
      }
    });
  });
}

function sessionsDialog(c) {
  const err = h("div", { class: "alert error", role: "alert" });
  const sessions = sessionsEditor(c.sessions);
  const save = h("button", { type: "submit" }, "保存 Save");
  const form = h("form", { novalidate: true }, err, sessions.node, h("div", { class: "actions" }, save));
  const d = openDialog("课次安排：" + c.name, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(err);
    const sess = sessions.read();
    if (!sess.ok) return form.querySelector("[aria-invalid=true]").focus();
    await withButton(save, async () => {
      try {
        await call("PUT", "/api/classes/" + c.id + "/sessions", { sessions: sess.sessions });
        d.close();
        notice("「" + c.name + "」的课次已更新。 Sessions saved.");
        await loadClasses();
      } catch (e) {
        replace(err, problemSummary(e), errorList(sessions.showErrors(problemErrors(e))));
      }
    });
  });
}

function assistantsDialog(c) {
  const err = h("div", { class: "alert error", role: "alert" });
  const boxes = state.assistants.map((u) => h("input", { type: "checkbox", value: u.id, checked: c.assistant_ids.includes(u.id) }));
  const save = h("button", { type: "submit" }, "保存 Save");
  const form = h("form", {}, err,
    h("fieldset", {}, h("legend", {}, "助教 Assistants"),
      h("p", { class: "hint" }, "每名助教负责 20–30 名学员；本班 " + c.students + " 名学员。 Each assistant looks after 20–30 students."),
      state.assistants.length
        ? state.assistants.map((u, i) => h("label", { class: "check" }, boxes[i], u.display_name + " (" + u.username + ")"))
        : h("p", { class: "muted" }, "本机构还没有助教账号。 No assistant accounts yet.")),
    h("div", { class: "actions" }, save));
  const d = openDialog("设置助教：" + c.name, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(err);
    const ids = boxes.filter((b) => b.checked).map((b) => Number(b.value));
    await withButton(save, async () => {
      try {
        await call("PUT", "/api/classes/" + c.id + "/assistants", { assistant_ids: ids });
        d.close();
        notice("「" + c.name + "」的助教已更新。 Assistants saved.");
        await loadClasses();
      } catch (e) { replace(err, problemSummary(e), errorList(problemErrors(e))); }
    });
  });
}

function rosterDialog(c) {
  const file = field("roster-file", "名单文件 Roster file",
    h("input", { type: "file", required: true, accept: ".csv,.xlsx,text/csv," + XLSX_TYPE }),
    "CSV（UTF-8 或 GBK）或 XLSX；表头：姓名, 身份证号, 手机号, 户籍所在地");
  const save = h("button", { type: "submit" }, "导入 Import");
  const result = h("div", { "aria-live": "polite", class: "result" });
  const form = h("form", { novalidate: true }, file.wrap,
    h("p", { class: "hint" }, "全部行无误才会导入；任何一行有错则不导入任何数据。 All rows or nothing."),
    h("div", { class: "actions" }, save));
  const d = openDialog("导入名单：" + c.name, form, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    replace(result);
    const f = file.input.files[0];
    setFieldError(file, f ? "" : "请选择文件 Choose a file");
    if (!f) return file.input.focus();
    const type = ROSTER_TYPES.includes(f.type) ? f.type : /\.xlsx$/i.test(f.name) ? XLSX_TYPE : "text/csv";
    await withButton(save, async () => {
      try {
        const r = await call("POST", "/api/classes/" + c.id + "/roster", f, { type });
        rosterResult(result, r);
        if (r.created && r.created.length) {
          d.dialog.guard = () => confirm("初始密码关闭后将无法再次查看。确定已保存？ Passwords cannot be shown again. Close?");
        }
        file.input.value = "";
        loadClasses();
      } catch (e) {
        const rows = problemErrors(e);
        replace(result, h("div", { class: "alert error", role: "alert", text: e.message }),
          rows.length > 0 && table(["行 Row", "字段 Field", "原因 Reason"],
            rows.map((x) => [x.row ?? "", fieldLabel(x.field), x.reason]), "名单错误 Roster errors"));
      }
    });
  });
}

function rosterResult(box, r) {
  const created = r.created || [];
  const copy = h("button", { type: "button", class: "secondary", onclick: async () => {
    const text = ["行\t账号\t初始密码"].concat(created.map((a) => a.row + "\t" + a.username + "\t" + a.initial_password)).join("\n");
    try { await navigator.clipboard.writeText(text); copy.textContent = "已复制 Copied"; }
    catch (e) { copy.textContent = "无法复制，请手动选择 Select manually"; }
  } }, "复制账号密码 Copy");
  replace(box,
    h("div", { class: "alert ok", role: "status" },
      "已导入 " + r.enrolled + " 名学员，其中 " + r.existing_students + " 名已注册，新建账号 " + created.length + " 个。",
      h("br"), h("span", { class: "small", text: "Enrolled " + r.enrolled + "; " + r.existing_students + " already registered; " + created.length + " new accounts." })),
    created.length > 0 && [
      h("p", { class: "note" }, "初始密码只在此显示一次，请立即发给学员；学员首次登录须修改密码。 Initial passwords are shown only once."),
      table(["行 Row", "账号 Username", "初始密码 Initial password"],
        created.map((a) => [String(a.row), h("td", { class: "mono", text: a.username }), h("td", { class: "mono", text: a.initial_password })]),
        "新建账号 New accounts"),
      copy,
    ]);
}

// ---------- students & audit ----------

async function studentsDialog(c) {
  const box = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "加载中… Loading…"));
  openDialog("学员名单：" + c.name, box).dialog.classList.add("dlg-wide");
  try {
    const list = await call("GET", "/api/classes/" + c.id + "/students");
    const photoNames = { id_front: "证件正面", id_back: "证件反面", photo: "照片" };
    replace(box,
      h("p", {}, "共 " + list.length + " 名学员（身份证号已脱敏）。 " + list.length + " students; ID numbers masked."),
      list.length > 0 && table(["#", "姓名 Name", "身份证号 ID number", "手机号 Mobile", "户籍所在地 Household", "照片 Photos"],
        list.map((s, i) => [String(i + 1), s.name, h("td", { class: "mono nowrap", text: s.id_number_masked }),
          h("td", { class: "mono nowrap", text: s.mobile }), s.household_place,
          s.complete ? "✓ 齐全 complete" : !s.photos.length ? "无 none"
            : "缺 missing: " + ["id_front", "id_back", "photo"].filter((k) => !s.photos.includes(k)).map((k) => photoNames[k]).join("、")]),
        "学员 Students"));
  } catch (e) {
    replace(box, h("p", { class: "alert error", role: "alert", text: "无法加载学员 Could not load students: " + e.message }));
  }
}

/** An audit entry's detail object as "key: value" lines. */
function fmtDetail(d) {
  if (!d || typeof d !== "object") return d == null ? "" : String(d);
  return Object.entries(d).map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v))).join("\n");
}

function auditDialog(c) {
  const kind = field("a-kind", "对象类型 Kind", h("input", { type: "text", value: c ? "class" : "", placeholder: "class / user" }));
  const id = field("a-id", "对象编号 Id", h("input", { type: "text", value: c ? String(c.id) : "" }));
  const limit = field("a-limit", "条数 Limit", h("input", { type: "number", min: "1", max: "1000", value: "200" }));
  const go = h("button", { type: "submit" }, "查询 Search");
  const form = h("form", { class: "filters" }, kind.wrap, id.wrap, limit.wrap, go);
  const box = h("div", { "aria-live": "polite" });
  openDialog(c ? "审计日志：" + c.name : "审计日志 Audit log", form, box).dialog.classList.add("dlg-wide");
  async function load() {
    const q = new URLSearchParams();
    if (kind.input.value.trim()) q.set("target_kind", kind.input.value.trim());
    if (id.input.value.trim()) q.set("target_id", id.input.value.trim());
    if (limit.input.value) q.set("limit", limit.input.value);
    replace(box, h("p", { class: "muted" }, "加载中… Loading…"));
    try {
      const rows = await call("GET", "/api/audit?" + q);
      replace(box, h("p", { class: "small muted" }, rows.length + " 条，最新在前 entries, newest first"),
        rows.length > 0 && table(["时间 Time", "操作人 Actor", "操作 Action", "对象 Target", "详情 Detail"],
          rows.map((r) => [fmtDateTime(r.at),
            r.actor_id == null ? "系统 system" : (ROLE_LABELS[r.actor_role] || r.actor_role || "") + " #" + r.actor_id,
            h("td", {}, ACTION_LABELS[r.action] || "", h("div", { class: "mono small muted", text: r.action })),
            r.target_kind + (r.target_id ? " #" + r.target_id : ""),
            h("td", { class: "detail small", text: fmtDetail(r.detail) })]),
          "审计日志 Audit log"));
    } catch (e) {
      replace(box, h("p", { class: "alert error", role: "alert", text: "无法加载审计日志: " + e.message }));
    }
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); withButton(go, load); });
  load();
}

// ---------- password ----------

function passwordDialog() {
  const err = h("div", { class: "alert error", role: "alert" });
  const cur = field("p-cur", "当前密码 Current password", h("input", { type: "password", autocomplete: "current-password", required: true }));
  const nw = field("p-new", "新密码 New password", h("input", { type: "password", autocomplete: "new-password", required: true, minlength: "8" }), "至少 8 位 At least 8 characters");
  const again = field("p-again", "再次输入新密码 Repeat new password", h("input", { type: "password", autocomplete: "new-password", required: true }));
  const save = h("button", { type: "submit" }, "修改 Change");
  const form = h("form", { novalidate: true }, err,
    h("input", { type: "text", name: "username", autocomplete: "username", value: state.me.username, hidden: true, readonly: true }),
    cur.wrap, nw.wrap, again.wrap, h("div", { class: "actions" }, save));
  const d = openDialog("修改密码 Change password", form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    setFieldError(cur, cur.input.value ? "" : "请输入当前密码 Required");
    setFieldError(nw, nw.input.value.length >= 8 ? "" : "至少 8 位 At least 8 characters");
    setFieldError(again, again.input.value === nw.input.value ? "" : "两次输入不一致 Does not match");
    const bad = form.querySelector("[aria-invalid=true]");
    if (bad) return bad.focus();
    await withButton(save, async () => {
      try {
        await call("POST", "/api/auth/password", { current_password: cur.input.value, new_password: nw.input.value });
        d.close();
        state.me.must_change_password = false;
        replace($("banner"));
        notice("密码已修改，其他设备上的登录已退出。 Password changed; other sessions were ended.");
      } catch (e) {
        if (e.problem.code === "invalid_credentials") setFieldError(cur, e.message);
        else if (e.problem.code === "weak_password") setFieldError(nw, e.message);
        else err.textContent = e.message;
      }
    });
  });
}

init();
