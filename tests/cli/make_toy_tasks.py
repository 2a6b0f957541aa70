#!/usr/bin/env python3
"""Writes the two toy tasks of the method tests as JSON lines.

    make_toy_tasks.py OUT_DIR

OUT_DIR/{va,vc}.{train,test}.jsonl: task va tells sentiment words apart, task
vc colour words (warm: positive, cold: negative), with the same label words;
160 training and 200 test examples each, a few filler words around the one
word that decides. Seeded: the same files on every machine.
"""
import json
import random
import sys

good = "great superb lovely fine excellent wonderful".split()
bad = "awful poor dull broken terrible boring".split()
warm = "red orange yellow gold amber crimson".split()
cold = "blue green cyan teal navy silver".split()
filler = "the movie plot actor scene music story camera light sound".split()
for split, n, seed in (("train", 160, 1), ("test", 200, 5)):
    for task, (a, b) in (("va", (good, bad)), ("vc", (warm, cold))):
        rnd = random.Random(seed)
        with open(f"{sys.argv[1]}/{task}.{split}.jsonl", "w") as f:
            for i in range(n):
                words = [rnd.choice(filler) for _ in range(rnd.randint(1, 3))]
                words.insert(rnd.randrange(len(words)), rnd.choice(a if i % 2 else b))
                print(json.dumps({"input": " ".join(words), "label": "positive" if i % 2 else "negative",
                                  "options": ["positive", "negative"]}), file=f)
