"""Data for the translation lessons: tokenizer and vocabulary, two bundled data sets that need no
download, a reader for your own tab-separated file, and batching with padding and masks.
Explained in notebooks/08_training.

The bundled English -> Japanese data set reorders words: Japanese puts the verb last and marks roles
with postpositions ("the big dog sees a cat in the park" -> "ookii inu ga neko o kouen de miru"),
so cross-attention has to learn an alignment that is not the identity. The smaller numbers -> German
data set ("4 7 2 1" -> "vier tausend sieben hundert ein und zwanzig") spells German number words
apart, word by word ("ein und zwanzig" for einundzwanzig), so that the word-level tokenizer sees their
parts; the spelling is ASCII (fuenf, dreissig).
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ._checks import check_positive_int
from .attention import causal_mask, padding_mask

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    return value


def tokenize(text: str) -> list[str]:
    """Lower-case words, with punctuation split off: "The dog, too." -> ["the", "dog", ",", "too", "."]."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return re.findall(r"[\w']+|[^\w\s]", text.lower())


class Vocab:
    """A two-way map between tokens and ids. Ids 0-3 are <pad>, <bos>, <eos>, <unk> in every Vocab."""

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, itos: Sequence[str]) -> None:
        if isinstance(itos, str) or not isinstance(itos, Sequence):
            raise TypeError(f"itos must be a list of tokens, got {type(itos).__name__}")
        if list(itos[:4]) != list(SPECIALS):
            raise ValueError(f"a vocabulary must start with {list(SPECIALS)}, got {list(itos[:4])}")
        if len(set(itos)) != len(itos):
            raise ValueError("a vocabulary must not list a token twice")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> Vocab:
        """Tokens seen at least `min_freq` times, most frequent first (ties alphabetical)."""
        if isinstance(texts, str):
            raise TypeError("texts must be an iterable of sentences, got a single str")
        check_positive_int("min_freq", min_freq)
        if max_size is not None and check_positive_int("max_size", max_size) <= len(SPECIALS):
            raise ValueError(f"max_size must leave room for words after the 4 special tokens, got {max_size}")
        counts = Counter(token for text in texts for token in tokenize(text))
        if not counts:
            raise ValueError("cannot build a vocabulary from no text: texts held no tokens")
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Text -> ids; words not in the vocabulary become <unk>."""
        ids = [self.stoi.get(token, self.unk_id) for token in tokenize(text)]
        return [self.bos_id] * add_bos + ids + [self.eos_id] * add_eos

    def decode(self, ids: Sequence[int] | Tensor, strip_special: bool = True) -> str:
        """Ids back to text, stopping at the first <eos>; <pad> and <bos> dropped when strip_special."""
        if isinstance(ids, Tensor):
            if ids.dim() != 1:
                raise ValueError(f"ids must be one sequence (T,), got shape {tuple(ids.shape)}")
            ids = ids.tolist()
        tokens = []
        for i in ids:
            if not 0 <= int(i) < len(self):
                raise ValueError(f"id {int(i)} is outside the vocabulary of size {len(self)}")
            if strip_special and i == self.eos_id:
                break
            if strip_special and i in (self.pad_id, self.bos_id):
                continue
            tokens.append(self.itos[int(i)])
        return " ".join(tokens)

    def to_dict(self) -> dict:
        """Plain lists and str only, so it loads from a checkpoint with torch.load(weights_only=True)."""
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        if not isinstance(d, dict) or "itos" not in d:
            raise ValueError("a saved vocabulary must be a dict with the key 'itos'")
        if not all(isinstance(t, str) for t in d["itos"]):
            raise TypeError("a saved vocabulary's 'itos' must be a list of str")
        return cls(d["itos"])


# --- English -> Japanese word order (subject ga, object o, place de, destination ni, verb last) ---------------------

# fmt: off
HUMANS = {
    "man": "otoko", "woman": "onna", "child": "kodomo", "teacher": "sensei", "student": "gakusei",
    "doctor": "isha", "friend": "tomodachi", "boy": "shounen", "girl": "shoujo",
}
ANIMALS = {"dog": "inu", "cat": "neko", "bird": "tori", "horse": "uma"}
FOOD = {"apple": "ringo", "banana": "banana", "fish": "sakana", "cake": "keeki"}
TEXTS = {"book": "hon", "letter": "tegami", "newspaper": "shinbun"}
OBJECTS = {"car": "kuruma", "ball": "booru", "flower": "hana", "picture": "e", "bag": "kaban"}
THINGS = {**FOOD, **TEXTS, **OBJECTS}
ANIMATE = {**HUMANS, **ANIMALS}
# English adjective -> Japanese, by the nouns they fit ("old" differs: toshiotta for the living, furui
# for things). English orders adjectives opinion, size, age, colour; Japanese keeps the same order.
ADJ_HUMAN = {"kind": "shinsetsu na", "tall": "se no takai", "old": "toshiotta", "young": "wakai"}
ADJ_ANIMAL = {
    "big": "ookii", "small": "chiisai", "old": "toshiotta", "young": "wakai", "white": "shiroi",
    "black": "kuroi",
}
ADJ_THING = {
    "beautiful": "kirei na", "big": "ookii", "small": "chiisai", "old": "furui", "new": "atarashii",
    "red": "akai", "white": "shiroi", "black": "kuroi",
}
ADJ_KIND = {  # 0 opinion, 1 size, 2 age, 3 colour
    "beautiful": 0, "kind": 0, "big": 1, "small": 1, "tall": 1, "old": 2, "young": 2, "new": 2,
    "red": 3, "white": 3, "black": 3,
}
# fmt: on
WASHABLE = {"car": "kuruma", "dog": "inu", "horse": "uma", "apple": "ringo", "bag": "kaban"}
# verb: (present 3rd person, past, Japanese plain present, Japanese plain past, subjects, objects)
VERBS = [
    ("sees", "saw", "miru", "mita", ANIMATE, {**ANIMATE, **THINGS}),
    ("finds", "found", "mitsukeru", "mitsuketa", ANIMATE, {**ANIMATE, **THINGS}),
    ("eats", "ate", "taberu", "tabeta", ANIMATE, FOOD),
    ("reads", "read", "yomu", "yonda", HUMANS, TEXTS),
    ("writes", "wrote", "kaku", "kaita", HUMANS, {"letter": "tegami", "book": "hon"}),
    ("buys", "bought", "kau", "katta", HUMANS, THINGS),
    ("carries", "carried", "hakobu", "hakonda", HUMANS, {**THINGS, "child": "kodomo", "cat": "neko"}),
    ("helps", "helped", "tasukeru", "tasuketa", HUMANS, ANIMATE),
    ("calls", "called", "yobu", "yonda", HUMANS, ANIMATE),
    ("chases", "chased", "ou", "otta", ANIMATE, ANIMATE),
    ("washes", "washed", "arau", "aratta", HUMANS, WASHABLE),
]
# verbs of motion, "X goes to the park" -> "X ga kouen ni iku": (..., subjects); no object
MOTION_VERBS = [
    ("goes", "went", "iku", "itta", ANIMATE),
    ("comes", "came", "kuru", "kita", ANIMATE),
    ("returns", "returned", "kaeru", "kaetta", HUMANS),
]
# fmt: off
PLACES = {
    "in the park": "kouen de", "in the garden": "niwa de", "at the school": "gakkou de",
    "at the station": "eki de", "in the kitchen": "daidokoro de", "in the library": "toshokan de",
    "by the river": "kawa de", "in the house": "ie de",
}
DESTINATIONS = {place.split(" ", 1)[1]: japanese.split()[0] for place, japanese in PLACES.items()}
# fmt: on
# time word -> (Japanese, the tenses it goes with)
TIMES = {
    "today": ("kyou", (False, True)),
    "yesterday": ("kinou", (True,)),
    "every day": ("mainichi", (False,)),
}


def _adjective_table(noun: str) -> dict[str, str]:
    if noun not in ANIMATE and noun not in THINGS:
        raise ValueError(
            f"noun must be one of the data set's nouns {sorted({**ANIMATE, **THINGS})}, got {noun!r}"
        )
    return ADJ_HUMAN if noun in HUMANS else ADJ_ANIMAL if noun in ANIMALS else ADJ_THING


def noun_phrase(article: str, adjectives: Sequence[str], noun: str) -> tuple[str, str]:
    """("the", ["big", "white"], "dog") -> ("the big white dog", "ookii shiroi inu"): Japanese has no
    articles and keeps the adjectives before the noun."""
    table = _adjective_table(noun)
    if article not in ("the", "a", "an"):
        raise ValueError(f"article must be 'the', 'a' or 'an', got {article!r}")
    for adjective in adjectives:
        if adjective not in table:
            raise ValueError(
                f"adjective {adjective!r} does not go with {noun!r}; choose from {sorted(table)}"
            )
    english = " ".join([article, *adjectives, noun])
    japanese = " ".join([*(table[a] for a in adjectives), ANIMATE.get(noun) or THINGS[noun]])
    return english, japanese


def sentence_pair(
    subject: tuple[str, str],
    verb: str,
    obj: tuple[str, str] | None = None,
    past: bool = False,
    place: str | None = None,
    time: str | None = None,
    destination: str | None = None,
) -> tuple[str, str]:
    """Compose one pair from noun phrases (English, Japanese), a verb given in its English present
    form, and an optional place and time. English is subject-verb-object-place-time; Japanese is
    time, subject ga, object o, place de, verb. A verb of motion (goes, comes, returns) takes a
    destination instead of an object: "the dog goes to the park" -> "inu ga kouen ni iku"."""
    rows = VERBS if destination is None else MOTION_VERBS
    row = next((v for v in rows if v[0] == verb), None)
    if row is None:
        kind = "with an object" if destination is None else "of motion"
        raise ValueError(f"verb {kind} must be one of {[v[0] for v in rows]}, got {verb!r}")
    if (obj is None) != (destination is not None):
        raise ValueError(
            f"give either obj (for {[v[0] for v in VERBS]}) or destination (for "
            f"{[v[0] for v in MOTION_VERBS]}), got obj={obj!r} and destination={destination!r}"
        )
    if destination is not None and destination not in DESTINATIONS:
        raise ValueError(f"destination must be one of {sorted(DESTINATIONS)}, got {destination!r}")
    if place is not None and place not in PLACES:
        raise ValueError(f"place must be one of {sorted(PLACES)}, got {place!r}")
    if time is not None and time not in TIMES:
        raise ValueError(f"time must be one of {sorted(TIMES)}, got {time!r}")
    english = [subject[0], row[1] if past else row[0]]
    japanese = [f"{subject[1]} ga"]
    if obj is not None:
        english.append(obj[0])
        japanese.append(f"{obj[1]} o")
    else:
        english += ["to", destination]
        japanese.append(f"{DESTINATIONS[destination]} ni")
    if place is not None:
        english.append(place)
        japanese.append(PLACES[place])
    japanese.append(row[3] if past else row[2])
    if time is not None:
        english.append(time)
        japanese.insert(0, TIMES[time][0])
    return " ".join(english), " ".join(japanese)


def _adjective_sequences(noun: str) -> list[tuple[str, ...]]:
    """Every adjective list the generator may put before `noun`: none, one, or two of different
    kinds in the English order opinion, size, age, colour."""
    table = sorted(_adjective_table(noun), key=lambda a: (ADJ_KIND[a], a))
    pairs = [(a, b) for i, a in enumerate(table) for b in table[i + 1 :] if ADJ_KIND[a] < ADJ_KIND[b]]
    return [(), *((a,) for a in table), *pairs]


def _random_noun_phrase(rng: random.Random, noun: str) -> tuple[str, str]:
    sequences = _adjective_sequences(noun)
    n_adjectives = rng.choices(range(3), weights=[4, 4, 2])[0]
    adjectives = rng.choice([s for s in sequences if len(s) == n_adjectives])
    article = rng.choice(["the", "a"])
    if article == "a" and (adjectives[0] if adjectives else noun)[0] in "aeiou":
        article = "an"
    return noun_phrase(article, adjectives, noun)


def _english_japanese_pair(rng: random.Random) -> tuple[str, str]:
    row = rng.choice(VERBS + MOTION_VERBS)
    subject_noun = rng.choice(sorted(row[4]))
    subject = _random_noun_phrase(rng, subject_noun)
    if len(row) == 5:  # a verb of motion: a destination, no object, no place
        obj, destination, place = None, rng.choice(sorted(DESTINATIONS)), None
    else:
        obj = _random_noun_phrase(rng, rng.choice(sorted(set(row[5]) - {subject_noun})))
        destination = None
    past = rng.random() < 0.5
    if obj is not None:
        place = rng.choice(sorted(PLACES)) if rng.random() < 0.5 else None
    time = None
    if rng.random() < 0.3:
        time = rng.choice([t for t, (_, tenses) in TIMES.items() if past in tenses])
    return sentence_pair(subject, row[0], obj, past, place, time, destination)


def english_japanese_capacity() -> int:
    """How many distinct English sentences the generator can produce (counted, not sampled)."""
    variants = {n: 2 * len(_adjective_sequences(n)) for n in {**ANIMATE, **THINGS}}  # 'the' or 'a'/'an'
    tense_times = sum(1 + sum(past in tenses for _, tenses in TIMES.values()) for past in (False, True))
    total = 0
    for row in VERBS:
        for s in row[4]:
            total += (
                variants[s] * sum(variants[o] for o in row[5] if o != s) * tense_times * (1 + len(PLACES))
            )
    for row in MOTION_VERBS:
        total += sum(variants[s] for s in row[4]) * len(DESTINATIONS) * tense_times
    return total


def english_japanese_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` distinct (English, Japanese word order) sentence pairs, the same for the same seed."""
    _check_count("n", n)
    capacity = english_japanese_capacity()
    if n > capacity // 2:  # beyond half, sampling without repeats slows to a crawl
        raise ValueError(
            f"n={n} is too many: the grammar produces {capacity} distinct sentences; ask for at most {capacity // 2}"
        )
    return _unique_pairs(_english_japanese_pair, n, seed)


# --- numbers -> German words (units before tens: 21 = "ein und zwanzig") ---------------------------

GERMAN_UNITS = ["null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun"]
# fmt: off
GERMAN_TEENS = [
    "zehn", "elf", "zwoelf", "dreizehn", "vierzehn", "fuenfzehn", "sechzehn", "siebzehn", "achtzehn",
    "neunzehn",
]
GERMAN_TENS = {
    2: "zwanzig", 3: "dreissig", 4: "vierzig", 5: "fuenfzig", 6: "sechzig", 7: "siebzig", 8: "achtzig",
    9: "neunzig",
}
# fmt: on


def german_number(n: int) -> str:
    """0 <= n <= 9999 in German words, ASCII (ue, ss), spaced word by word: 4721 ->
    'vier tausend sieben hundert ein und zwanzig'."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 9999:
        raise ValueError(f"n must be an int in [0, 9999], got {n!r}")
    if n == 0:
        return "null"
    words = []
    thousands, hundreds, rest = n // 1000, n // 100 % 10, n % 100
    for count, word in ((thousands, "tausend"), (hundreds, "hundert")):
        if count:
            words += ["ein" if count == 1 else GERMAN_UNITS[count], word]
    if rest >= 20:
        unit = rest % 10
        if unit:
            words += ["ein" if unit == 1 else GERMAN_UNITS[unit], "und"]
        words.append(GERMAN_TENS[rest // 10])
    elif rest >= 10:
        words.append(GERMAN_TEENS[rest - 10])
    elif rest:
        words.append(GERMAN_UNITS[rest])
    return " ".join(words)


def number_german_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` distinct pairs ("4 7 2 1", "vier tausend sieben hundert ein und zwanzig") for 0..9999."""

    def draw(rng: random.Random) -> tuple[str, str]:
        value = rng.randrange(10000)
        return " ".join(str(value)), german_number(value)

    if _check_count("n", n) > 10000:
        raise ValueError(f"n={n} is more than the 10000 distinct numbers 0..9999")
    return _unique_pairs(draw, n, seed)


def _unique_pairs(draw, n: int, seed: int) -> list[tuple[str, str]]:
    """Draw until `n` different source sentences are found (a repeat is drawn again, not kept)."""
    rng, pairs, seen, misses = random.Random(seed), [], set(), 0
    while len(pairs) < n:
        src, tgt = draw(rng)
        if src in seen:
            misses += 1
            if misses > 50 * n + 10000:
                raise ValueError(
                    f"n={n} is more distinct sentences than the grammar produces (found {len(pairs)})"
                )
            continue
        seen.add(src)
        pairs.append((src, tgt))
    return pairs


# --- splits, files, data sets ----------------------------------------------------------------------


@dataclass
class TranslationData:
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]
    src_vocab: Vocab
    tgt_vocab: Vocab


def split_pairs(pairs, n_valid: int, n_test: int, seed: int = 0) -> tuple[list, list, list]:
    """Shuffle and split into (train, valid, test) so that no source sentence is in two splits.
    n_valid and n_test count distinct source sentences; all pairs that share one (several translations
    of one sentence in your own file) go to the same split."""
    _check_count("n_valid", n_valid)
    _check_count("n_test", n_test)
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise TypeError(f"pairs must be a list of (source, target) tuples, got {type(pairs).__name__}")
    by_source: dict[str, list] = {}
    for pair in pairs:
        by_source.setdefault(pair[0], []).append(pair)
    sources = sorted(by_source)
    random.Random(seed).shuffle(sources)
    if n_valid + n_test >= len(sources):
        raise ValueError(
            f"n_valid + n_test = {n_valid + n_test} leaves nothing to train on: "
            f"there are {len(sources)} distinct source sentences"
        )
    parts = sources[:n_valid], sources[n_valid : n_valid + n_test], sources[n_valid + n_test :]
    valid, test, train = ([p for s in part for p in by_source[s]] for part in parts)
    return train, valid, test


DATASETS = {"en-ja": english_japanese_pairs, "numbers-de": number_german_pairs}


def load_translation_data(
    name: str = "en-ja", n_train: int = 20000, n_valid: int = 1000, n_test: int = 1000, seed: int = 0
) -> TranslationData:
    """A bundled data set ("en-ja" or "numbers-de") or a tab-separated file, split and with
    vocabularies built from the training split only. For a file, every pair not in valid or test is
    used for training and n_train is ignored. "numbers-de" has 10000 numbers in all, so ask for
    e.g. n_train=8000, n_valid=1000, n_test=1000.

    The German side is spelled word by word with spaces ("ein und zwanzig", not "einundzwanzig") so
    that the word-level tokenizer sees each part of a compound number."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a str (data set name or path), got {type(name).__name__}")
    for argument, value in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        _check_count(argument, value)
    if name == "numbers-de" and n_train + n_valid + n_test > 10000:
        raise ValueError(
            f"n_train + n_valid + n_test = {n_train + n_valid + n_test} is more than the 10000 numbers "
            f"0..9999 of 'numbers-de'; try n_train=8000, n_valid=1000, n_test=1000"
        )
    if name in DATASETS:
        pairs = DATASETS[name](n_train + n_valid + n_test, seed)
    elif Path(name).suffix in (".tsv", ".txt") or Path(name).exists():
        pairs = load_pairs(name)
    else:
        raise ValueError(f"name must be one of {sorted(DATASETS)} or a path to a .tsv file, got {name!r}")
    train, valid, test = split_pairs(pairs, n_valid, n_test, seed)
    return TranslationData(
        train, valid, test, Vocab.build(s for s, _ in train), Vocab.build(t for _, t in train)
    )


def load_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read `source<TAB>target` lines (extra tab-separated columns, as in a Tatoeba export, are
    ignored; blank lines are skipped)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no parallel-text file at {path}: expected a file of source<TAB>target lines"
        )
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) < 2:
            raise ValueError(
                f"{path}, line {number}: expected source<TAB>target, found no tab in {line[:60]!r}"
            )
        pairs.append((columns[0].strip(), columns[1].strip()))
    if not pairs:
        raise ValueError(f"{path} holds no sentence pairs: expected source<TAB>target lines")
    return pairs


# --- batching ----------------------------------------------------------------------------------------


@dataclass
class Batch:
    """A padded batch for teacher forcing: the decoder reads tgt_in = <bos> + target and learns to
    predict tgt_out = target + <eos>."""

    src: Tensor  # (B, S) long
    tgt_in: Tensor  # (B, T) long
    tgt_out: Tensor  # (B, T) long, pad where there is no label
    src_mask: Tensor  # (B, 1, 1, S) bool
    tgt_mask: Tensor  # (B, 1, T, T) bool, causal AND padding
    pad_id: int = 0

    def to(self, device: torch.device | str) -> Batch:
        tensors = (self.src, self.tgt_in, self.tgt_out, self.src_mask, self.tgt_mask)
        return Batch(*(t.to(device) for t in tensors), pad_id=self.pad_id)

    def __len__(self) -> int:
        return self.src.shape[0]

    @property
    def n_tokens(self) -> int:
        """Labels that count in the loss: target tokens and <eos>, not padding."""
        return int((self.tgt_out != self.pad_id).sum())


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int) -> Tensor:
    """Lists of ids of unequal length -> (B, T_max) long, right-padded."""
    T = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [pad_id] * (T - len(s)) for s in sequences], dtype=torch.long)  # (B, T)


def collate(pairs: Sequence[tuple[list[int], list[int]]], pad_id: int, bos_id: int, eos_id: int) -> Batch:
    """(source ids, target ids) pairs, without special tokens -> a padded Batch with its masks."""
    if not pairs:
        raise ValueError("collate needs at least one pair, got an empty batch")
    for name, value in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"pairs[{i}] must be (source ids, target ids), got {pair!r:.60}")
    src = pad_sequences([s for s, _ in pairs], pad_id)  # (B, S)
    tgt_in = pad_sequences([[bos_id, *t] for _, t in pairs], pad_id)  # (B, T)
    tgt_out = pad_sequences([[*t, eos_id] for _, t in pairs], pad_id)  # (B, T)
    src_mask = padding_mask(src, pad_id)  # (B, 1, 1, S)
    T = tgt_in.shape[1]
    tgt_mask = padding_mask(tgt_in, pad_id) & causal_mask(T, device=tgt_in.device)  # (B, 1, T, T)
    return Batch(src, tgt_in, tgt_out, src_mask, tgt_mask, pad_id=pad_id)


class TranslationDataset(Dataset):
    """Sentence pairs encoded once; item i is (source ids, target ids) without special tokens.
    Pairs are left out when the source, or the target with its <bos> (or <eos>), is longer than
    `max_len` tokens."""

    def __init__(self, pairs, src_vocab: Vocab, tgt_vocab: Vocab, max_len: int | None = None) -> None:
        for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
            if not isinstance(vocab, Vocab):
                raise TypeError(f"{name} must be a Vocab, got {type(vocab).__name__}")
        if max_len is not None:
            check_positive_int("max_len", max_len)
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        encoded = ((src_vocab.encode(s), tgt_vocab.encode(t)) for s, t in pairs)
        self.items = [(s, t) for s, t in encoded if max_len is None or max(len(s), len(t) + 1) <= max_len]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.items[i]


def make_loader(
    dataset: TranslationDataset, batch_size: int, shuffle: bool, seed: int = 0, sampler=None
) -> DataLoader:
    """A DataLoader of Batch objects; pass a DistributedSampler as `sampler` for data parallelism."""
    if not isinstance(dataset, TranslationDataset):
        raise TypeError(f"dataset must be a TranslationDataset, got {type(dataset).__name__}")
    check_positive_int("batch_size", batch_size)
    v = dataset.tgt_vocab
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=generator if sampler is None else None,
        collate_fn=partial(collate, pad_id=v.pad_id, bos_id=v.bos_id, eos_id=v.eos_id),
    )
