// kmspolicy console: progressive enhancement only (every page works without it). Live
// diagnostics for the policy editor: the text is checked on the server, as `kmspolicy lint`.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const editor = document.getElementById("policy-text");
  const list = document.getElementById("diagnostics");
  if (!editor || !list) return;
  let timer = null;
  let latest = 0;
  const render = (findings) => {
    list.replaceChildren();
    if (findings.length === 0) {
      const li = document.createElement("li");
      li.textContent = "no findings";
      list.append(li);
    }
    for (const f of findings) {
      // as the CLI prints it: policy:LINE:COL: SEVERITY CODE: message, the line, a caret
      const li = document.createElement("li");
      li.className = "sev-" + f.severity;
      const text = document.createElement("pre");
      text.className = "finding";
      text.textContent = f.rendered;
      li.append(text);
      list.append(li);
    }
  };
  editor.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++latest;
      const body = new URLSearchParams({ policy: editor.value, key: editor.dataset.key });
      const answer = await fetch(editor.dataset.diagnostics, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRF-Token": editor.dataset.csrf },
      });
      if (answer.ok && mine === latest) render(await answer.json());
    }, 300);
  });
});
