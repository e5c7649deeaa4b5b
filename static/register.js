// Student self-registration: JSON to POST /api/register, every field error shown at its field.
"use strict";
(function () {
  const form = document.getElementById("register");
  const error = document.getElementById("error");
  const submit = document.getElementById("submit");
  const done = document.getElementById("done");
  const TEXT = ["institution_id", "name", "mobile", "id_number", "household_place", "password"];
  const FILES = ["id_front", "id_back", "photo"];
  const MAX_PHOTO = 5 * 1024 * 1024;      // the server's per-photo limit
  const MAX_TOTAL = 11 * 1024 * 1024;     // base64 of all three must fit the 16 MiB upload limit
  const input = (f) => document.getElementById(f);

  const inst = new URLSearchParams(location.search).get("institution");
  if (inst && /^\d+$/.test(inst)) input("institution_id").value = inst;

  function setError(f, msg) {
    const el = document.getElementById("err-" + f);
    const i = input(f);
    if (!el || !i) return false;
    el.textContent = el.textContent && msg ? el.textContent + "；" + msg : msg || "";
    if (msg) i.setAttribute("aria-invalid", "true"); else i.removeAttribute("aria-invalid");
    return true;
  }

  function clearErrors() {
    error.textContent = "";
    for (const f of TEXT.concat(FILES, ["password2"])) setError(f, "");
  }

  function focusFirstInvalid() {
    const bad = form.querySelector("[aria-invalid=true]");
    (bad || error).focus();
  }

  for (const f of FILES) {
    input(f).addEventListener("change", () => {
      const img = document.getElementById("prev-" + f);
      const file = input(f).files[0];
      if (img.src) URL.revokeObjectURL(img.src);
      if (file && /^image\//.test(file.type)) { img.src = URL.createObjectURL(file); img.hidden = false; }
      else { img.removeAttribute("src"); img.hidden = true; }
    });
  }

  function dataUrl(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }

  /** Checks what can be checked here; the server checks everything again. */
  function localCheck() {
    let ok = true;
    const need = (f, cond, msg) => { if (!cond) { setError(f, msg); ok = false; } };
    need("institution_id", /^\d+$/.test(input("institution_id").value), "请填写机构编号 Enter the institution number");
    need("name", input("name").value.trim(), "请填写姓名 Enter your name");
    need("mobile", input("mobile").value.trim(), "请填写手机号 Enter your mobile number");
    need("id_number", input("id_number").value.trim(), "请填写身份证号 Enter your ID number");
    need("household_place", input("household_place").value.trim(), "请填写户籍所在地 Enter your household place");
    need("password", input("password").value.length >= 8, "密码至少 8 位 At least 8 characters");
    need("password2", input("password2").value === input("password").value, "两次输入的密码不一致 Passwords do not match");
    let total = 0;
    for (const f of FILES) {
      const file = input(f).files[0];
      if (!file) { setError(f, "请选择图片 Choose an image"); ok = false; continue; }
      total += file.size;
      need(f, /^image\/(jpeg|png)$/.test(file.type) || !file.type, "只接受 JPEG 或 PNG 图片 JPEG or PNG only");
      need(f, file.size <= MAX_PHOTO, "图片超过 5 MB Larger than 5 MB");
    }
    if (ok && total > MAX_TOTAL) {
      error.textContent = "三张图片合计过大（最多约 11 MB），请压缩后再试。 The three images together are too large.";
      ok = false;
    }
    return ok;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    if (!localCheck()) return focusFirstInvalid();
    submit.disabled = true;
    submit.textContent = "提交中… Submitting…";
    try {
      const body = {
        institution_id: Number(input("institution_id").value),
        name: input("name").value.trim(),
        id_number: input("id_number").value.trim().toUpperCase(),
        mobile: input("mobile").value.trim(),
        household_place: input("household_place").value.trim(),
        password: input("password").value,
      };
      for (const f of FILES) body[f] = await dataUrl(input(f).files[0]);
      const r = await api("POST", "/api/register", body);
      form.hidden = true;
      done.hidden = false;
      done.replaceChildren(
        h("h2", {}, "注册成功 ", h("span", { class: "en", text: "Registered" })),
        h("p", {}, "您的登录账号是手机号 ", h("strong", { class: "mono", text: r.username }), "，请使用刚才设置的密码登录。"),
        h("p", { class: "en", text: "Log in with your mobile number and the password you chose." }),
        h("a", { class: "button", href: "/" }, "去登录 Log in"));
      done.focus();
    } catch (e) {
      const errors = problemErrors(e).slice();
      if (!errors.length && e.problem && e.problem.code === "mobile_registered") {
        errors.push({ field: "mobile", reason: "该手机号已注册 already registered" });
      }
      const unplaced = errors.filter((x) => !setError(x.field, x.reason));
      error.replaceChildren(problemSummary(e), unplaced.length
        ? h("ul", {}, unplaced.map((x) => h("li", {}, fieldLabel(x.field) + "：" + x.reason))) : "");
      error.setAttribute("tabindex", "-1");
      focusFirstInvalid();
    } finally {
      submit.disabled = false;
      submit.textContent = "提交注册 Register";
    }
  });
})();
