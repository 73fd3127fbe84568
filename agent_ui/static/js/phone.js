// The agent's browser phone behind one small interface, whatever carries the audio:
//   ring(offer)   an offer arrived: ring until answered, declined or withdrawn
//   stopRinging()
//   answer(), decline(), hangup()   each resolves to {ok, status}
// The simulator's implementation (the demo and the tests) asks the hub to act at the simulated
// carrier through /api/v1/phone/*; on real Twilio the Voice SDK (phone-twilio.js) does the work.

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function post(path) {
  try {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
    });
    return { ok: response.ok, status: response.status };
  } catch (error) {
    return { ok: false, status: 0 };
  }
}

// A soft two-tone ring from the page itself (no audio file); silent where audio is not allowed.
function ringer() {
  let context = null;
  let timer = null;
  function beep() {
    try {
      context = context || new AudioContext();
      [0, 0.4].forEach((start) => {
        const tone = context.createOscillator();
        const gain = context.createGain();
        tone.frequency.value = 480;
        gain.gain.value = 0.05;
        tone.connect(gain).connect(context.destination);
        tone.start(context.currentTime + start);
        tone.stop(context.currentTime + start + 0.25);
      });
    } catch (error) {
      // no audio: the page still shows and announces the offer
    }
  }
  return {
    start() { if (!timer) { beep(); timer = window.setInterval(beep, 2000); } },
    stop() { if (timer) { window.clearInterval(timer); timer = null; } },
  };
}

export function simulatorPhone() {
  const bell = ringer();
  return {
    kind: "simulator",
    ring(offer) {
      document.documentElement.classList.add("phone-ringing");
      bell.start();
      return offer;
    },
    stopRinging() {
      document.documentElement.classList.remove("phone-ringing");
      bell.stop();
    },
    async answer() { this.stopRinging(); return post("/api/v1/phone/answer"); },
    async decline() { this.stopRinging(); return post("/api/v1/phone/decline"); },
    async hangup() { return post("/api/v1/phone/hangup"); },
  };
}

// Real Twilio: the Voice SDK behind phone-twilio.js (loaded by the page before this module)
// rings by itself when the hub dials the agent's identity; this only maps the buttons onto it.
export function twilioPhone() {
  if (!window.HotlinePhone || !window.HotlinePhone.start) return null;
  const device = window.HotlinePhone.start({
    onState() {},
    onError(error) { document.documentElement.dataset.phoneError = String(error && error.message || error); },
  });
  const done = (action) => async () => { action(); return { ok: true, status: 200 }; };
  return {
    kind: "twilio",
    ring(offer) { return offer; },
    stopRinging() {},
    answer: done(() => device.answer()),
    decline: done(() => device.decline()),
    hangup: done(() => device.hangup()),
  };
}

// null: no phone in this browser, and the buttons post their forms to the hub instead.
export function createPhone(kind) {
  if (kind === "simulator") return simulatorPhone();
  if (kind === "twilio") return twilioPhone();
  return null;
}
