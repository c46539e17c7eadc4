"""gensim code, unchanged, on recneg: only the import line differs.

Run: python examples/gensim_dropin.py            (recneg)
     python examples/gensim_dropin.py --gensim   (the same lines on gensim, to compare)

The five gensim calls of issue 15 (load_word2vec_format, most_similar, add_vector,
save_word2vec_format(fvocab=), get_vecattr) run on a small word2vec file this script writes
first: 15 words in three topics (fruit, animals, colours), 8-d vectors = topic centre + noise,
with a C-tool vocabulary file of word counts.

Output (recneg; run 2026-12-01):

    [('cherry', 0.9859344363212585), ('pear', 0.9856645464897156), ('grape', 0.9727195501327515)]
    1000 0
    out.txt: header '16 8', last row 'banana'; out.vocab: 'apple 1000' ... 'banana 0'

With --gensim (gensim 4.4.0) the same three lines, and gensim's "UserWarning: Adding single
vectors to a KeyedVectors which grows by one each time can be costly" (recneg's add_vector grows
its storage by 1/8 at a time, so repeated calls are cheap and need no warning).
"""
import atexit
import shutil
import sys
import tempfile

import numpy as np

if "--gensim" in sys.argv:
    from gensim.models import KeyedVectors
else:
    from recneg.models import KeyedVectors  # the only change: was `from gensim.models import KeyedVectors`

# ---- a small word2vec text file and its vocabulary file (setup, not part of the gensim code)
d = tempfile.mkdtemp()
atexit.register(shutil.rmtree, d)
topics = {"fruit": ["apple", "pear", "plum", "cherry", "grape"], "animal": ["dog", "cat", "horse", "cow", "sheep"],
          "colour": ["red", "green", "blue", "yellow", "black"]}
rng = np.random.default_rng(0)
rows = [(w, c + 0.15 * rng.standard_normal(8)) for c, ws in zip(rng.standard_normal((3, 8)), topics.values()) for w in ws]
with open(f"{d}/words.txt", "w") as f:
    f.write(f"{len(rows)} 8\n" + "".join(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n" for w, v in rows))
with open(f"{d}/words.vocab", "w") as f:
    f.write("".join(f"{w} {1000 - 50 * i}\n" for i, (w, _) in enumerate(rows)))

# ---- gensim code, unchanged
kv = KeyedVectors.load_word2vec_format(f"{d}/words.txt", fvocab=f"{d}/words.vocab")
print(kv.most_similar("apple", topn=3))
kv.add_vector("banana", (kv["apple"] + kv["pear"]) / 2)
kv.save_word2vec_format(f"{d}/out.txt", fvocab=f"{d}/out.vocab")
print(kv.get_vecattr("apple", "count"), kv.get_vecattr("banana", "count"))

# ---- what was written (plain file reads)
with open(f"{d}/out.txt") as f, open(f"{d}/out.vocab") as v:
    lines, vocab = f.read().splitlines(), v.read().splitlines()
print(f"out.txt: header {lines[0]!r}, last row {lines[-1].split()[0]!r}; out.vocab: {vocab[0]!r} ... {vocab[-1]!r}")
