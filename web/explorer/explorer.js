// The attention explorer: translates the sentence typed into the page with a model of the
// book, greedily, in the browser (ONNX Runtime Web, single-threaded WebAssembly), and draws
// its attention map as the chapters do: source tokens across, generated tokens down.
//
// The models are two ONNX graphs each (d2l_lite/explorer/__init__.py): one step of the encoder,
// called once per source token, and one step of the decoder, called once per generated token.
// Their decoding limits (the longest sentence a model reads, how many tokens it may generate)
// come from the manifest and the models' descriptions that d2l_lite/explorer/prepare.py writes.
// Everything typed is shown as text, never as HTML.

import { tokens as tokenize } from "./tokenize.js";

const HERE = new URL(".", import.meta.url);
const REDS = ["#fff5f0", "#fee0d2", "#fcbba1", "#fc9272", "#fb6a4a", "#ef3b2c", "#cb181d",
  "#a50f15", "#67000d"]; // matplotlib's "Reds", which the chapters' heatmaps use

const page = {
  form: document.getElementById("explorer-form"),
  input: document.getElementById("explorer-input"),
  model: document.getElementById("explorer-model"),
  button: document.getElementById("explorer-translate"),
  status: document.getElementById("explorer-status"),
  about: document.getElementById("explorer-about"),
  translation: document.getElementById("explorer-translation"),
  map: document.getElementById("explorer-map"),
};
const loaded = new Map(); // model name -> {entry, meta, encoder, decoder, srcIndex}
let manifest = null;
const REBUILD = "Reload the page; if this comes back, this copy of the book was built without the " +
  "explorer's files: python -m d2l_lite.explorer.prepare exports them before the book is built.";

// A file of the explorer (a path under explorer/), fetched; an error naming the file and saying
// what to do when it cannot be, rather than the parser's complaint about an error page.
async function fetchFile(path) {
  const url = new URL(path, HERE);
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`${path} could not be loaded (${error.message}). ${REBUILD}`);
  }
  if (!response.ok) {
    throw new Error(`${path} could not be loaded (HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}). ${REBUILD}`);
  }
  return response;
}

async function fetchJson(path) {
  const response = await fetchFile(path);
  try {
    return await response.json();
  } catch (error) {
    throw new Error(`${path} is not the JSON file the explorer expects (${error.message}). ${REBUILD}`);
  }
}

function say(message, kind = "info") {
  page.status.textContent = message;
  page.status.dataset.kind = kind;
  delete page.status.dataset.cause;
}

function color(weight) {
  const x = Math.min(Math.max(weight, 0), 1) * (REDS.length - 1);
  const i = Math.min(Math.floor(x), REDS.length - 2);
  const [a, b] = [REDS[i], REDS[i + 1]].map((h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16)));
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * (x - i))).join(",")})`;
}

async function loadModel(name) {
  if (loaded.has(name)) return loaded.get(name);
  const entry = manifest.models.find((m) => m.name === name);
  const meta = await fetchJson(`models/${entry.meta}`);
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  const session = async (file) => {
    const bytes = new Uint8Array(await (await fetchFile(`models/${file}`)).arrayBuffer());
    return ort.InferenceSession.create(bytes, options);
  };
  const [encoder, decoder] = await Promise.all([session(entry.encoder), session(entry.decoder)]);
  const srcIndex = new Map(meta.src_vocab.map((t, i) => [t, i]));
  const model = { entry, meta, encoder, decoder, srcIndex };
  loaded.set(name, model);
  return model;
}

// Greedy translation of a token list, as d2l_lite's predict_step does it; returns the source
// tokens as the model sees them, the translation and the attention weights (one row per step).
export async function translate(model, sourceTokens) {
  const { entry, meta, encoder, decoder, srcIndex } = model;
  const unk = srcIndex.get("<unk>");
  const seen = [...sourceTokens, "<eos>"];
  const ids = seen.map((t) => (srcIndex.has(t) ? srcIndex.get(t) : unk));
  const [L, H] = [meta.hparams.num_layers, meta.hparams.num_hiddens];
  let state = new ort.Tensor("float32", new Float32Array(L * H), [L, 1, H]);
  const outputs = new Float32Array(ids.length * H);
  for (const [k, id] of ids.entries()) {
    const step = await encoder.run({ token: new ort.Tensor("int64", BigInt64Array.of(BigInt(id)), [1]), state });
    outputs.set(step.output.data, k * H);
    state = step.new_state;
  }
  const encOutputs = new ort.Tensor("float32", outputs, [1, ids.length, H]);
  const tgt = meta.tgt_vocab;
  let token = tgt.indexOf("<bos>");
  const eos = tgt.indexOf("<eos>");
  const words = [];
  const weights = [];
  const steps = Math.min(meta.num_steps, 2 * ids.length + entry.extra_steps);
  for (let t = 0; t < steps; t += 1) {
    const step = await decoder.run({
      token: new ort.Tensor("int64", BigInt64Array.of(BigInt(token)), [1]), state, enc_outputs: encOutputs,
    });
    state = step.new_state;
    weights.push(Array.from(step.weights.data));
    let best = 0;
    const logits = step.logits.data;
    for (let v = 1; v < logits.length; v += 1) if (logits[v] > logits[best]) best = v;
    token = best;
    if (token === eos) break;
    words.push(tgt[token]);
  }
  return { source: seen.map((t, i) => (ids[i] === unk && t !== "<unk>" ? null : t)), sourceTokens: seen, translation: words, weights };
}

function drawMap(result) {
  const rows = [...result.translation, "<eos>"].slice(0, result.weights.length);
  const cell = 22;
  const labelWidth = 90;
  const labelHeight = 80;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  const width = labelWidth + cell * result.sourceTokens.length;
  const height = labelHeight + cell * rows.length;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "attention map: source tokens across, generated tokens down");
  const text = (x, y, content, attrs = {}) => {
    const node = document.createElementNS(svg.namespaceURI, "text");
    node.setAttribute("x", x);
    node.setAttribute("y", y);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.textContent = content; // text, never markup
    svg.appendChild(node);
    return node;
  };
  result.sourceTokens.forEach((token, k) => {
    const unknown = result.source[k] === null;
    const x = labelWidth + cell * k + cell / 2;
    const label = text(x, labelHeight - 6, unknown ? `${token} (<unk>)` : token,
      { transform: `rotate(-60 ${x} ${labelHeight - 6})`, "font-size": 11 });
    if (unknown) label.setAttribute("class", "explorer-unknown");
  });
  rows.forEach((token, t) => {
    text(labelWidth - 6, labelHeight + cell * t + cell * 0.7, token, { "text-anchor": "end", "font-size": 11 });
    result.weights[t].forEach((w, k) => {
      const rect = document.createElementNS(svg.namespaceURI, "rect");
      rect.setAttribute("x", labelWidth + cell * k);
      rect.setAttribute("y", labelHeight + cell * t);
      rect.setAttribute("width", cell);
      rect.setAttribute("height", cell);
      rect.setAttribute("fill", color(w));
      rect.dataset.weight = w;
      const title = document.createElementNS(svg.namespaceURI, "title");
      title.textContent = `${token} <- ${result.sourceTokens[k]}: ${w.toFixed(3)}`;
      rect.appendChild(title);
      svg.appendChild(rect);
    });
  });
  page.map.replaceChildren(svg);
}

function describe(meta) {
  const q = meta.rounding;
  page.about.textContent = `${meta.description} Test sentences never trained on: BLEU ${meta.test.bleu.toFixed(1)}, ` +
    `chrF ${meta.test.chrf.toFixed(1)}. Weights rounded to 8 bits for this page: ` +
    `${(100 * q.changed).toFixed(1)}% of those test translations change (chrF ${q.chrf_change >= 0 ? "+" : ""}${q.chrf_change.toFixed(2)}).`;
}

// What is wrong with a sentence's tokens for the chosen model, or null: the input has no
// length cap, so a long paste arrives whole and is refused here, with a message.
function tooLong(toks) {
  const limit = manifest.models.find((m) => m.name === page.model.value).max_source_tokens;
  if (toks.length <= limit) return null;
  return `That is ${toks.length} tokens; the models read at most ${limit} (punctuation counts). Try a shorter sentence.`;
}

// As the reader types or pastes: the same message at once, taken back once the sentence fits.
function onInput() {
  const problem = tooLong(tokenize(page.input.value));
  if (problem) {
    say(problem, "error");
    page.status.dataset.cause = "length";
  } else if (page.status.dataset.cause === "length") {
    say("Ready.", "ready");
  }
}

async function onSubmit(event) {
  event.preventDefault();
  const sentence = page.input.value;
  if (/[\t\r\n]/.test(sentence)) return say("Type one sentence, without tabs or line breaks.", "error");
  const toks = tokenize(sentence);
  if (toks.length === 0) return say("Type an English sentence first.", "error");
  const problem = tooLong(toks);
  if (problem) return say(problem, "error");
  page.button.disabled = true;
  say("Translating…");
  try {
    const model = await loadModel(page.model.value);
    const result = await translate(model, toks);
    page.translation.textContent = result.translation.join(" ");
    drawMap(result);
    window.explorerResult = { model: page.model.value, tokens: toks, ...result };
    const unknown = result.source.filter((t) => t === null).length;
    say(unknown ? `${unknown} word(s) are outside the model's vocabulary: it reads them as <unk> (marked in the map).` : "Done.", "done");
  } catch (error) {
    say(`The translation failed: ${error.message}`, "error");
  } finally {
    page.button.disabled = false;
  }
}

async function start() {
  if (typeof WebAssembly !== "object") {
    say("This page needs WebAssembly and JavaScript, which this browser does not offer: the explorer cannot run here.", "error");
    return;
  }
  if (typeof ort === "undefined") {
    say(`The explorer could not load its runtime, ort/ort.wasm.min.js. ${REBUILD}`, "error");
    return;
  }
  ort.env.wasm.numThreads = 1; // single-threaded: no special headers needed on any static host
  ort.env.wasm.wasmPaths = new URL("ort/", HERE).href;
  try {
    manifest = await fetchJson("models/manifest.json");
    if (!manifest.models.every((m) => Number.isInteger(m.max_source_tokens) && Number.isInteger(m.extra_steps))) {
      throw new Error(`models/manifest.json gives no decoding limits: it is older than the page's scripts. ${REBUILD}`);
    }
    for (const m of manifest.models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = m.label;
      page.model.appendChild(option);
    }
    page.model.addEventListener("change", async () => {
      describe((await loadModel(page.model.value)).meta);
      say("Ready.", "ready");
    });
    say("Loading the models…");
    await Promise.all(manifest.models.map((m) => loadModel(m.name))); // then no network is needed
    describe((await loadModel(page.model.value)).meta);
    page.form.addEventListener("submit", onSubmit);
    page.input.addEventListener("input", onInput);
    page.button.disabled = false;
    say("Ready.", "ready");
    window.explorerReady = true;
  } catch (error) {
    say(`The explorer could not load its models: ${error.message}`, "error");
  }
}

start();
