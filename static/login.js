// Login page: skip straight to the dashboard when a session exists; otherwise log in.
"use strict";
(function () {
  const form = document.getElementById("login");
  const error = document.getElementById("error");
  const submit = document.getElementById("submit");
  const user = document.getElementById("username");
  const pass = document.getElementById("password");

  api("GET", "/api/me").then(() => location.replace("/app.html"), () => {});

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    for (const input of [user, pass]) input.removeAttribute("aria-invalid");
    const username = user.value.trim();
    if (!username || !pass.value) {
      error.textContent = "请输入用户名和密码 Enter your username and password.";
      (username ? pass : user).setAttribute("aria-invalid", "true");
      (username ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    try {
      await api("POST", "/api/auth/login", { username, password: pass.value });
      location.replace("/app.html");
    } catch (e) {
      const prefix = e.status === 401 ? "用户名或密码错误 — "
        : e.status === 429 ? "登录失败次数过多，已暂时锁定 — " : "";
      error.textContent = prefix + e.message;
      pass.value = "";
      pass.focus();
      submit.disabled = false;
    }
  });
})();
