// The try-out page: a chat with the bot, the managers' channel and your private messages.
// Every word from the server is put in the page with textContent, never as markup.
"use strict";

const state = { person: null, people: [], since: 0, polling: null };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

async function call(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
  return answer;
}

function scrollDown(node) {
  node.scrollTop = node.scrollHeight;
}

// --- a reply, as the page shows it -------------------------------------------------

function renderReply(reply, onPress) {
  const box = el("div", `reply ${reply.tone}`);
  box.appendChild(el("div", "headline", reply.text));
  for (const block of reply.blocks) {
    if (block.type === "section") {
      if (block.title) box.appendChild(el("div", "title", block.title));
      if (block.bullets) {
        const list = el("ul");
        for (const line of block.lines) list.appendChild(el("li", null, line));
        box.appendChild(list);
      } else {
        for (const line of block.lines) box.appendChild(el("p", null, line));
      }
    } else if (block.type === "facts") {
      const facts = el("dl");
      for (const [label, value] of block.pairs) {
        facts.appendChild(el("dt", null, label));
        facts.appendChild(el("dd", null, value));
      }
      box.appendChild(facts);
    }
  }
  if (reply.buttons.length) {
    const row = el("div", "buttons");
    for (const button of reply.buttons) {
      const pressed = el("button", button.primary ? "primary" : null, button.label);
      pressed.type = "button";
      pressed.addEventListener("click", () => onPress(box, button.kind, button.value, null));
      row.appendChild(pressed);
    }
    box.appendChild(row);
  }
  if (reply.form) box.appendChild(renderForm(reply.form, box, onPress));
  if (reply.image && reply.image.startsWith("data:image/png;base64,")) {
    const chart = el("img", "chart");
    chart.src = reply.image;
    chart.alt = reply.image_alt || "charts";
    box.appendChild(chart);
  }
  return box;
}

function renderForm(form, box, onPress) {
  const ask = el("form", "ask");
  ask.appendChild(el("div", "title", form.title));
  const id = `field-${Math.random().toString(36).slice(2)}`;
  const label = el("label", null, form.prompt);
  label.htmlFor = id;
  const field = el("textarea");
  field.id = id;
  field.maxLength = form.max_length;
  field.minLength = form.min_length;
  field.required = form.min_length > 0;
  const submit = el("button", null, form.submit);
  submit.type = "submit";
  ask.append(label, field, submit);
  ask.addEventListener("submit", (event) => {
    event.preventDefault();
    onPress(box, form.kind, form.value, field.value);
  });
  return ask;
}

// --- the chat ----------------------------------------------------------------------

const chat = () => document.getElementById("chat");

function showInChat(reply, replacing) {
  const shown = renderReply(reply, press);
  if (replacing && reply.replaces) replacing.replaceWith(shown);
  else chat().appendChild(shown);
  scrollDown(chat());
}

function showProblem(message) {
  chat().appendChild(el("p", "error", message));
  scrollDown(chat());
}

async function say(text) {
  const said = el("div", "said");
  said.appendChild(el("span", null, text));
  chat().appendChild(said);
  try {
    const answer = await call("POST", "/try/api/say", { as: state.person, text });
    if (answer.reply) showInChat(answer.reply, null);
  } catch (error) {
    showProblem(error.message);
  }
  poll();
}

async function press(box, kind, value, justification) {
  const body = { as: state.person, kind, value };
  if (justification !== null) body.justification = justification;
  const inChat = chat().contains(box);
  try {
    const answer = await call("POST", "/try/api/press", body);
    if (answer.reply) showInChat(answer.reply, inChat ? box : null);
  } catch (error) {
    showProblem(error.message);
  }
  poll();
}

// --- the channel and private messages, polled --------------------------------------

async function poll() {
  const person = state.person;
  let answer;
  try {
    answer = await call(
      "GET", `/try/api/channel?as=${encodeURIComponent(person)}&since=${state.since}`);
  } catch (error) {
    return;
  }
  if (person !== state.person) return;
  for (const message of answer.messages) {
    const panel = document.getElementById(message.where === "channel" ? "channel" : "private");
    const shown = renderReply(message.reply, press);
    shown.dataset.id = message.id;
    const held = panel.querySelector(`[data-id="${message.id}"]`);
    if (held) held.replaceWith(shown);
    else panel.appendChild(shown);
    scrollDown(panel);
    state.since = Math.max(state.since, message.seq);
  }
}

// --- who you are -------------------------------------------------------------------

const EXAMPLES = [
  "/allocate C-1042 to @sam.okafor as lead",
  "/allocate C-1043 to @priya.shah as lead",
  "/allocate C-1043",
  "what can I hold?",
  "/caseload team",
  "/caseload @priya.shah",
  "/allocate help",
];

function become(id) {
  state.person = id;
  state.since = 0;
  const person = state.people.find((p) => p.id === id);
  document.getElementById("about").textContent = person ? `${person.name}: ${person.about}` : "";
  for (const panel of ["chat", "channel", "private"]) {
    document.getElementById(panel).replaceChildren();
  }
  const list = document.getElementById("examples");
  list.replaceChildren();
  for (const text of EXAMPLES) {
    const item = el("li");
    const fill = el("button", null, text);
    fill.type = "button";
    fill.addEventListener("click", () => {
      const input = document.getElementById("say-text");
      input.value = text;
      input.focus();
    });
    item.appendChild(fill);
    list.appendChild(item);
  }
  poll();
}

async function start() {
  const directory = await call("GET", "/try/api/people");
  state.people = directory.people;
  document.getElementById("org").textContent = directory.organisation;
  document.getElementById("channel-name").textContent = `#${directory.channel}`;
  const select = document.getElementById("person");
  for (const person of directory.people) {
    const option = el("option", null, `${person.name} (@${person.id})`);
    option.value = person.id;
    select.appendChild(option);
  }
  select.addEventListener("change", () => become(select.value));
  document.getElementById("say-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("say-text");
    const text = input.value.trim();
    if (text) say(text);
    input.value = "";
  });
  become(select.value);
  state.polling = setInterval(poll, 1000);
}

document.addEventListener("DOMContentLoaded", start);
