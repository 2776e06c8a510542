// The form: the multi-shot editor with its running total, and the request body built from the fields.
// Values are sent as typed: the page warns, the server judges (and names the field it refuses).

import { $ } from "./dom.js";

const MAX_SHOTS = 6;
const DEFAULT_DURATION_S = 5;

function shotRows() {
  return [...$("shots").querySelectorAll("li.shot")];
}

function renumberShots() {
  // Ids, labels and field names follow a shot's place, so `multi_prompt[1].duration` finds shot 2.
  const rows = shotRows();
  rows.forEach((row, i) => {
    row.querySelector(".shot-name").textContent = `Shot ${i + 1}`;
    row.querySelector(".remove").setAttribute("aria-label", `Remove shot ${i + 1}`);
    row.querySelector(".remove").disabled = rows.length <= 1;
    row.querySelector(".shot-error").dataset.errorFor = `multi_prompt[${i}]`;
    for (const [part, key, words] of [["prompt", "prompt", "prompt"], ["seconds", "duration", "seconds"]]) {
      const field = `multi_prompt[${i}].${key}`;
      const input = row.querySelector(`.shot-${part}-input`);
      const label = row.querySelector(`.shot-${part}-label`);
      const slot = row.querySelector(`.shot-${part}-error`);
      input.id = `shot-${i}-${key}`;
      input.dataset.field = field;
      label.htmlFor = input.id;
      label.textContent = `Shot ${i + 1} ${words}`;
      slot.id = `err-${field}`;
      slot.dataset.errorFor = field;
      input.setAttribute("aria-describedby", slot.id);
    }
  });
  $("add-shot").disabled = rows.length >= MAX_SHOTS;
  updateTotal();
}

export function addShot(prompt = "", seconds = "") {
  const row = $("shot-template").content.firstElementChild.cloneNode(true);
  row.querySelector(".shot-prompt-input").value = prompt;
  row.querySelector(".shot-seconds-input").value = seconds;
  row.querySelector(".remove").addEventListener("click", () => {
    row.remove();
    renumberShots();
  });
  $("shots").append(row);
  renumberShots();
  return row;
}

function readNumber(input) {
  // Blank → null; text a number input cannot read → NaN (sent as typed, for the server to name).
  if (input.value.trim() === "") return input.validity.badInput ? NaN : null;
  return Number(input.value);
}

function numberOrRaw(input) {
  const value = readNumber(input);
  return Number.isNaN(value) ? input.value : value;
}

export function updateTotal() {
  const total = $("shot-total");
  const seconds = shotRows().map((row) => readNumber(row.querySelector(".shot-seconds-input")));
  const given = seconds.filter((s) => s !== null).reduce((a, b) => a + b, 0);
  const open = seconds.filter((s) => s === null).length;
  const duration = readNumber($("duration"));
  let text;
  let ok;
  if (seconds.some(Number.isNaN) || Number.isNaN(duration)) {
    [text, ok] = ["Seconds must be whole numbers", false];
  } else if (open === 0 && duration === null) {
    ok = given >= 3 && given <= 15;
    text = `Total ${given} s from the shots${ok ? "" : " — the total must be 3–15 s"}`;
  } else if (open === 0) {
    ok = given === duration;
    text = ok ? `Shots add up to ${given} s of ${duration} s ✓` : `Shots add up to ${given} s, but duration is ${duration} s`;
  } else {
    const whole = duration ?? DEFAULT_DURATION_S;
    const left = whole - given;
    ok = left >= open;
    text = `${given} s set; ${left} s of ${whole} s shared by ${open} shot${open > 1 ? "s" : ""}`;
    if (!ok) text += " — each shot needs at least 1 s";
  }
  total.textContent = text;
  total.dataset.state = ok ? "ok" : "warn";
}

export function setMode(mode) {
  const multi = mode === "multi";
  $("single-editor").hidden = multi;
  $("multi-editor").hidden = !multi;
  if (multi && shotRows().length === 0) {
    addShot($("prompt").value);
    addShot();
  }
  updateTotal();
}

export function buildRequest() {
  const body = {};
  if (document.querySelector('input[name="mode"]:checked').value === "multi") {
    body.multi_prompt = shotRows().map((row) => {
      const shot = { prompt: row.querySelector(".shot-prompt-input").value };
      const seconds = row.querySelector(".shot-seconds-input");
      if (readNumber(seconds) !== null) shot.duration = numberOrRaw(seconds);
      return shot;
    });
  } else {
    body.prompt = $("prompt").value;
  }
  if (readNumber($("duration")) !== null) body.duration = numberOrRaw($("duration"));
  body.cfg_scale = Number($("cfg").value);
  body.aspect_ratio = document.querySelector('input[name="aspect_ratio"]:checked').value;
  body.sound = $("sound").checked;
  if ($("negative").value) body.negative_prompt = $("negative").value;
  if (readNumber($("seed")) !== null) body.extra = { seed: numberOrRaw($("seed")) };
  return body;
}
