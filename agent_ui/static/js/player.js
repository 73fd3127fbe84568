// The QA player: speed (0.75-2x), one channel or both (Web Audio), notes that seek when clicked,
// the note form's time following the playhead, and "skip silence": the recording is fetched once
// (one audited listen), decoded with Web Audio, and stretches where both channels stay below
// about -40 dBFS for a second or more are jumped over while playing. Without JavaScript the
// <audio> element plays the recording as it is, and these controls stay hidden.
(function () {
  "use strict";
  var WINDOW = 0.05; // seconds per analysed window
  var THRESHOLD = 0.01; // RMS below this (about -40 dBFS) is silence
  var MIN_SILENCE = 1.0; // only stretches this long are skipped
  var MARGIN = 0.2; // keep a little of each edge so words are not clipped

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" + r : r);
  }

  function silences(buffer) {
    var size = Math.max(1, Math.floor(buffer.sampleRate * WINDOW));
    var channels = [];
    for (var c = 0; c < buffer.numberOfChannels; c++) channels.push(buffer.getChannelData(c));
    var found = [], start = -1, windows = Math.ceil(buffer.length / size);
    for (var w = 0; w <= windows; w++) {
      var quiet = w < windows;
      if (quiet) {
        for (var k = 0; k < channels.length && quiet; k++) {
          var data = channels[k], sum = 0, from = w * size, to = Math.min(buffer.length, from + size);
          for (var i = from; i < to; i++) sum += data[i] * data[i];
          quiet = Math.sqrt(sum / Math.max(1, to - from)) < THRESHOLD;
        }
      }
      if (quiet && start < 0) start = w * WINDOW;
      if (!quiet && start >= 0) {
        var end = Math.min(w * WINDOW, buffer.duration);
        if (end - start >= MIN_SILENCE) found.push([start + MARGIN, end - MARGIN]);
        start = -1;
      }
    }
    return found;
  }

  function setup(box) {
    var audio = box.querySelector("audio");
    var controls = box.querySelector("[data-player-controls]");
    if (!audio || !controls) return;
    var speed = controls.querySelector("[data-speed]");
    var channels = controls.querySelector("[data-channels]");
    var skip = controls.querySelector("[data-skip-silence]");
    var status = document.getElementById("qa-silence-status");
    var ranges = [], graph = null;
    controls.hidden = false;

    speed.addEventListener("change", function () {
      audio.playbackRate = parseFloat(speed.value) || 1;
      audio.defaultPlaybackRate = audio.playbackRate;
    });

    function route() {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      if (!graph) {
        var context = new Context();
        graph = { context: context, source: context.createMediaElementSource(audio),
                  splitter: context.createChannelSplitter(2), merger: context.createChannelMerger(2) };
        graph.source.connect(graph.splitter);
        graph.merger.connect(context.destination);
      }
      graph.splitter.disconnect();
      var choice = channels.value;
      if (choice === "left" || choice === "right") {
        var from = choice === "left" ? 0 : 1;
        graph.splitter.connect(graph.merger, from, 0);
        graph.splitter.connect(graph.merger, from, 1);
      } else {
        graph.splitter.connect(graph.merger, 0, 0);
        graph.splitter.connect(graph.merger, 1, 1);
      }
      if (graph.context.state === "suspended") graph.context.resume();
    }
    channels.addEventListener("change", route);
    audio.addEventListener("play", function () { if (graph || channels.value !== "both") route(); });

    audio.addEventListener("timeupdate", function () {
      if (!skip.checked) return;
      for (var i = 0; i < ranges.length; i++) {
        if (audio.currentTime >= ranges[i][0] && audio.currentTime < ranges[i][1]) {
          audio.currentTime = ranges[i][1];
          break;
        }
      }
    });

    // One fetch serves both the analysis and playback (a blob the page's CSP allows).
    fetch(audio.dataset.src, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("audio " + response.status);
        return response.arrayBuffer();
      })
      .then(function (bytes) {
        var position = audio.currentTime;
        audio.src = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
        if (position) audio.currentTime = position;
        var Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
        var decoder = new Offline(2, 1, 8000);
        return decoder.decodeAudioData(bytes.slice(0));
      })
      .then(function (buffer) {
        ranges = silences(buffer);
        var total = ranges.reduce(function (sum, r) { return sum + (r[1] - r[0]); }, 0);
        status.textContent = ranges.length
          ? status.dataset.labelFound.replace("{count}", ranges.length).replace("{total}", clock(total))
          : status.dataset.labelNone;
        skip.disabled = ranges.length === 0;
        box.dataset.silences = JSON.stringify(ranges.map(function (r) {
          return [Math.round(r[0] * 100) / 100, Math.round(r[1] * 100) / 100];
        }));
        box.dataset.analysed = "true";
      })
      .catch(function () {
        status.textContent = status.dataset.labelFailed;
        box.dataset.analysed = "failed";
      });
  }

  function seekTo(seconds) {
    var audio = document.getElementById("qa-audio");
    if (!audio || isNaN(seconds)) return;
    audio.currentTime = seconds;
    audio.play().catch(function () { /* autoplay refused: the playhead has moved anyway */ });
  }

  function start() {
    document.querySelectorAll("[data-player]").forEach(setup);
    // Delegated: the notes panel is replaced by htmx after a note is pinned.
    document.body.addEventListener("click", function (event) {
      var target = event.target.closest("[data-seek]");
      if (target) seekTo(parseFloat(target.dataset.seek));
    });
    document.body.addEventListener("focusin", function (event) {
      if (event.target.id !== "note-body") return;
      var audio = document.getElementById("qa-audio"), at = document.getElementById("note-at");
      if (audio && at && audio.currentTime > 0) at.value = clock(audio.currentTime);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
