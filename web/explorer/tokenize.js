// The tokenisation that d2l_lite's MTFraEng applies (d2l_lite/d2l/data.py: preprocess and
// tokenize), for one English sentence typed into the explorer. tests/test_explorer.py runs it
// under Node on every English sentence of the corpus and compares with Python's.

const PUNCTUATION = ",.!?";

// d2l's preprocessing: non-breaking spaces become spaces, the text is lowercased, and a space
// goes before , . ! ? that follow a character other than a space. Where lowercasing changes
// the number of characters, d2l compares each lowercased character's neighbour in the
// original text, position by position; so does this. Positions count code points, as
// Python's strings do.
export function preprocess(text) {
  const original = Array.from(text.replaceAll("\u202f", " ").replaceAll("\u00a0", " "));
  const lowered = Array.from(original.join("").toLowerCase());
  if (lowered.length !== original.length) {
    return lowered
      .map((c, i) => (i > 0 && PUNCTUATION.includes(c) && original[i - 1] !== " " ? " " + c : c))
      .join("");
  }
  return lowered
    .map((c, i) => (i > 0 && PUNCTUATION.includes(c) && lowered[i - 1] !== " " ? " " + c : c))
    .join("");
}

// A preprocessed sentence's tokens, as MTFraEng splits a source sentence (without <eos>).
export function tokens(text) {
  return preprocess(text).split(" ").filter((t) => t.length > 0);
}
