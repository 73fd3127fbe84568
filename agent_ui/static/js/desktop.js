// The agent desktop's behaviour on top of htmx: the phone buttons go through phone.js, an offer
// that arrives rings and is announced, and a ticket form being typed in is never replaced by
// the same ticket's form (a reconnect resends every panel).
import { createPhone } from "./phone.js";

const kindMeta = document.querySelector('meta[name="phone-kind"]');
const phone = createPhone(kindMeta ? kindMeta.content : "");
let ringingOffer = null;

function announce(text) {
  const region = document.getElementById("live-announcer");
  if (region && text) region.textContent = text;
}

function checkOffer() {
  const panel = document.getElementById("offer-panel");
  const offerId = panel && panel.dataset.offerId;
  if (offerId && offerId !== ringingOffer) {
    ringingOffer = offerId;
    if (phone) phone.ring({ offerId });
    const title = document.getElementById("offer-title");
    announce(title ? title.textContent.trim() : "");
  } else if (!offerId && ringingOffer) {
    ringingOffer = null;
    if (phone) phone.stopRinging();
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-phone-action]");
  if (!form || !phone) return; // without a phone the form posts to the hub
  event.preventDefault();
  const button = form.querySelector("button");
  if (button) button.disabled = true;
  const result = await phone[form.dataset.phoneAction]();
  if (!result.ok) {
    const panel = form.closest(".panel");
    const message = panel && panel.querySelector(".phone-error");
    if (message) {
      message.textContent = message.dataset.msgFailed || "";
      message.hidden = false;
    }
    if (button && button.getAttribute("aria-disabled") !== "true") button.disabled = false;
  }
  // On success the websocket brings the panels that changed.
});

// In-call controls (hold, recording pause, transfer and its cancel) call the JSON API with the
// session's CSRF token; the websocket then brings the call panel as it now is. A refusal shows
// the hub's own message (e.g. "The caller is already on hold.").
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-call-control]");
  if (!form) return;
  event.preventDefault();
  const button = form.querySelector("button");
  if (button) button.disabled = true;
  const meta = document.querySelector('meta[name="csrf-token"]');
  const headers = { "X-CSRF-Token": meta ? meta.content : "", Accept: "application/json" };
  let body;
  if (form.dataset.callControl === "json") {
    const data = new FormData(form);
    headers["Content-Type"] = "application/json";
    body = JSON.stringify({ to_queue: data.get("to_queue"), warm: data.get("warm") === "true" });
  }
  let message = "";
  try {
    const response = await fetch(form.action, { method: "POST", credentials: "same-origin", headers, body });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      message = typeof problem.detail === "string" ? problem.detail : "";
      message = message || "fail";
    }
  } catch (error) {
    message = "fail";
  }
  const shown = document.getElementById("call-control-error");
  if (shown) {
    shown.textContent = message === "fail" ? shown.dataset.msgFailed || "" : message;
    shown.hidden = !message;
  }
  if (button) button.disabled = false;
});

document.body.addEventListener("htmx:oobBeforeSwap", (event) => {
  const target = event.detail.target;
  if (!target || target.id !== "ticket-panel") return;
  const incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
  const key = incoming && incoming.dataset ? incoming.dataset.ticketKey : undefined;
  if (key && key === target.dataset.ticketKey) event.detail.shouldSwap = false;
});

// A callback the customer has answered rings the agent's phone, as an offer does.
let ringingCallback = false;
function checkCallback() {
  const answer = document.querySelector("#callbacks-panel .callback-answer");
  if (answer && !ringingCallback) {
    ringingCallback = true;
    if (phone) phone.ring({ callback: true });
    const step = answer.previousElementSibling;
    announce(step ? step.textContent.replace(/\s+/g, " ").trim() : "");
  } else if (!answer && ringingCallback) {
    ringingCallback = false;
    if (phone && !ringingOffer) phone.stopRinging();
  }
}

document.body.addEventListener("htmx:oobAfterSwap", checkOffer);
document.body.addEventListener("htmx:oobAfterSwap", checkCallback);
checkOffer();
checkCallback();
