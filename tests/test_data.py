"""Tests of the data module: tokenizer, vocabulary, the bundled data sets, load_pairs, batching."""

import pytest
import torch

from transformer_lib.attention import causal_mask
from transformer_lib.data import (
    ADJ_ANIMAL,
    ADJ_HUMAN,
    ADJ_KIND,
    ADJ_THING,
    ANIMALS,
    ANIMATE,
    HUMANS,
    MOTION_VERBS,
    PLACES,
    THINGS,
    VERBS,
    TranslationDataset,
    Vocab,
    collate,
    english_japanese_capacity,
    english_japanese_pairs,
    german_number,
    load_pairs,
    load_translation_data,
    make_loader,
    noun_phrase,
    number_german_pairs,
    sentence_pair,
    split_pairs,
    tokenize,
)


@pytest.fixture(scope="module")
def data():
    return load_translation_data("en-ja", n_train=20000, n_valid=1000, n_test=1000, seed=0)


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("The dog, too.") == ["the", "dog", ",", "too", "."]
    assert tokenize("  Ein   und  ") == ["ein", "und"]


def test_vocab_specials_come_first_with_fixed_ids():
    v = Vocab.build(["b a a", "c"])
    assert v.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert v.itos[4:] == ["a", "b", "c"]  # most frequent first, ties alphabetical


def test_encode_decode_round_trip_and_unknown_words():
    v = Vocab.build(["the dog sees a cat"])
    ids = v.encode("the cat sees a dog", add_bos=True, add_eos=True)
    assert ids[0] == v.bos_id and ids[-1] == v.eos_id
    assert v.decode(ids) == "the cat sees a dog"
    assert v.encode("the zebra")[1] == v.unk_id
    assert v.decode(torch.tensor(v.encode("a dog") + [v.eos_id, v.stoi["cat"]])) == "a dog"  # stops at <eos>
    assert v.decode([v.bos_id, v.stoi["dog"], v.pad_id], strip_special=False) == "<bos> dog <pad>"


def test_vocab_survives_a_weights_only_checkpoint(tmp_path):
    v = Vocab.build(["ookii inu ga neko o miru"])
    torch.save({"vocab": v.to_dict()}, tmp_path / "v.pt")
    loaded = Vocab.from_dict(torch.load(tmp_path / "v.pt", weights_only=True)["vocab"])
    assert loaded.itos == v.itos and loaded.encode("inu ga miru") == v.encode("inu ga miru")


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: Vocab.build([]), ValueError, "no text"),
        (lambda: Vocab.build("a string"), TypeError, "single str"),
        (lambda: Vocab(["a", "b"]), ValueError, "must start with"),
        (lambda: Vocab.from_dict({"words": []}), ValueError, "'itos'"),
        (lambda: Vocab.build(["a"]).decode([99]), ValueError, "id 99 is outside the vocabulary of size 5"),
        (lambda: tokenize(3), TypeError, "text must be a str, got int"),
        (lambda: english_japanese_pairs(-1), ValueError, "non-negative"),
        (lambda: english_japanese_pairs(2.5), TypeError, "n must be an int, got float"),
        (lambda: english_japanese_pairs(english_japanese_capacity()), ValueError, "distinct sentences"),
        (lambda: Vocab.build(["a"], min_freq=0), ValueError, "min_freq must be a positive integer, got 0"),
        (lambda: Vocab.build(["a"], max_size=4), ValueError, "max_size must leave room.*got 4"),
        (
            lambda: Vocab.from_dict({"itos": ["<pad>", "<bos>", "<eos>", "<unk>", 5]}),
            TypeError,
            "list of str",
        ),
        (lambda: Vocab.build(["a"]).encode(["a"]), TypeError, "text must be a str, got list"),
        (lambda: Vocab.build(["a"]).decode(torch.zeros(2, 2, dtype=torch.long)), ValueError, r"\(2, 2\)"),
        (lambda: load_translation_data("numbers-de"), ValueError, "22000 is more than the 10000"),
        (lambda: load_translation_data("en-ja", n_valid=-1), ValueError, "n_valid must be a non-negative"),
        (lambda: load_translation_data(42), TypeError, "name must be a str"),
        (lambda: load_pairs(42), TypeError, "path must be a str or os.PathLike, got int"),
        (lambda: split_pairs([("a", "b")], -1, 0), ValueError, "n_valid must be a non-negative int, got -1"),
        (lambda: split_pairs("ab", 0, 0), TypeError, "pairs must be a list"),
        (lambda: collate([([1], [2])], 0.0, 1, 2), TypeError, "pad_id must be an int, got float"),
        (lambda: collate([[1, 2, 3]], 0, 1, 2), ValueError, r"pairs\[0\] must be \(source ids, target ids\)"),
        (
            lambda: TranslationDataset([("a", "b")], "vocab", Vocab.build(["b"])),
            TypeError,
            "src_vocab must be a Vocab",
        ),
        (
            lambda: make_loader([("a", "b")], 4, shuffle=False),
            TypeError,
            "dataset must be a TranslationDataset",
        ),
        (lambda: sentence_pair(("a", "b"), "flies", ("c", "d")), ValueError, "got 'flies'"),
        (
            lambda: sentence_pair(("a", "b"), "sees", ("c", "d"), place="on the moon"),
            ValueError,
            "'on the moon'",
        ),
        (lambda: noun_phrase("the", [], "zebra"), ValueError, "got 'zebra'"),
        (lambda: number_german_pairs(10001), ValueError, "10000 distinct"),
        (lambda: german_number(10000), ValueError, r"\[0, 9999\], got 10000"),
        (lambda: load_translation_data("klingon"), ValueError, "'klingon'"),
        (lambda: split_pairs([("a", "b"), ("c", "d")], 1, 1), ValueError, "nothing to train on"),
        (lambda: collate([], 0, 1, 2), ValueError, "empty batch"),
    ],
)
def test_bad_inputs_are_rejected_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_grammar_builds_the_example_of_the_course():
    subject = noun_phrase("the", ["big"], "dog")
    obj = noun_phrase("a", [], "cat")
    assert sentence_pair(subject, "sees", obj, place="in the park") == (
        "the big dog sees a cat in the park",
        "ookii inu ga neko o kouen de miru",
    )
    assert sentence_pair(
        noun_phrase("the", ["old"], "man"),
        "helps",
        noun_phrase("a", [], "child"),
        past=True,
        time="yesterday",
    ) == ("the old man helped a child yesterday", "kinou toshiotta otoko ga kodomo o tasuketa")
    assert noun_phrase("an", ["old"], "book")[1] == "furui hon"  # old things are furui, old people toshiotta
    assert sentence_pair(noun_phrase("a", ["kind"], "teacher"), "goes", destination="the school") == (
        "a kind teacher goes to the school",
        "shinsetsu na sensei ga gakkou ni iku",
    )
    assert sentence_pair(
        noun_phrase("the", [], "student"), "returns", past=True, time="today", destination="the house"
    ) == ("the student returned to the house today", "kyou gakusei ga ie ni kaetta")
    with pytest.raises(ValueError, match="of motion must be one of"):
        sentence_pair(subject, "sees", destination="the park")
    with pytest.raises(ValueError, match="give either obj"):
        sentence_pair(subject, "sees")
    with pytest.raises(ValueError, match="does not go with 'man'"):
        noun_phrase("the", ["red"], "man")


english_verbs = {
    "sees", "saw", "finds", "found", "eats", "ate", "reads", "read", "writes", "wrote", "buys", "bought",
    "carries", "carried", "helps", "helped", "calls", "called", "chases", "chased", "washes", "washed",
    "goes", "went", "comes", "came", "returns", "returned",
}  # fmt: skip
japanese_verbs = {
    "miru", "mita", "mitsukeru", "mitsuketa", "taberu", "tabeta", "yomu", "yonda", "kaku", "kaita",
    "kau", "katta", "hakobu", "hakonda", "tasukeru", "tasuketa", "yobu", "ou", "otta", "arau", "aratta",
    "iku", "itta", "kuru", "kita", "kaeru", "kaetta",
}  # fmt: skip


def test_japanese_side_is_verb_final_with_postpositions(data):
    for en, ja in data.train[:2000]:
        words = ja.split()
        assert words[-1] in japanese_verbs, (en, ja)
        if "ni" in words:  # a verb of motion: "goes to the park" -> "kouen ni iku"
            assert words.index("ga") < words.index("ni") == len(words) - 2 and " to the " in en
        else:
            assert words.index("ga") < words.index("o") < len(words) - 1
        # English is subject-verb-object: the sentence opens with the subject noun phrase, the verb
        # follows its noun, and that noun is the one Japanese marks with "ga"
        en_words = en.split()
        verb_positions = [i for i, w in enumerate(en_words) if w in english_verbs]
        assert len(verb_positions) == 1 and 2 <= verb_positions[0] <= 4, en
        assert en_words[0] in {"the", "a", "an"} and en_words[-1] not in english_verbs
        subject_noun = en_words[verb_positions[0] - 1]
        assert ANIMATE[subject_noun] == words[words.index("ga") - 1], (en, ja)


def test_english_grammar_spot_checks(data):
    for en, _ in data.train[:3000]:
        words = en.split()
        for article, following in zip(words, words[1:], strict=False):
            if article == "a":
                assert following[0] not in "aeiou", en
            if article == "an":
                assert following[0] in "aeiou", en
    past_with_yesterday = [en for en, _ in data.train if en.endswith("yesterday")]
    assert past_with_yesterday and all(
        " sees " not in en and " eats " not in en for en in past_with_yesterday
    )


def test_splits_are_disjoint_large_and_reproducible(data):
    assert len(data.train) >= 20000 and len(data.valid) == 1000 and len(data.test) == 1000
    train, valid, test = ({s for s, _ in part} for part in (data.train, data.valid, data.test))
    assert not (train & valid) and not (train & test) and not (valid & test)
    again = load_translation_data("en-ja", seed=0)
    assert again.train[:50] == data.train[:50] and again.test == data.test
    assert load_translation_data("en-ja", seed=1).train[:50] != data.train[:50]


def test_sentence_lengths_and_vocabulary_size(data):
    lengths = [len(tokenize(s)) for s, _ in data.train]
    assert 4 <= min(lengths) and max(lengths) <= 14
    assert 40 <= len(data.src_vocab) <= 120 and 40 <= len(data.tgt_vocab) <= 120


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "null"),
        (1, "eins"),
        (7, "sieben"),
        (10, "zehn"),
        (11, "elf"),
        (12, "zwoelf"),
        (16, "sechzehn"),
        (17, "siebzehn"),
        (20, "zwanzig"),
        (21, "ein und zwanzig"),
        (30, "dreissig"),
        (99, "neun und neunzig"),
        (100, "ein hundert"),
        (101, "ein hundert eins"),
        (110, "ein hundert zehn"),
        (121, "ein hundert ein und zwanzig"),
        (1000, "ein tausend"),
        (1001, "ein tausend eins"),
        (2024, "zwei tausend vier und zwanzig"),
        (4721, "vier tausend sieben hundert ein und zwanzig"),
        (9999, "neun tausend neun hundert neun und neunzig"),
    ],
)
def test_german_numbers(n, words):
    assert german_number(n) == words


def test_number_pairs_spell_digits_apart():
    pairs = number_german_pairs(500, seed=3)
    assert len({s for s, _ in pairs}) == 500
    for src, tgt in pairs:
        assert tgt == german_number(int(src.replace(" ", "")))


def test_load_pairs_reads_tsv_with_extra_columns_and_blank_lines(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hi.\tHallo.\t123\t456\n\nI run.\tIch laufe.\n", encoding="utf-8")
    assert load_pairs(path) == [("Hi.", "Hallo."), ("I run.", "Ich laufe.")]
    data = load_translation_data(str(path), n_valid=0, n_test=0)
    assert len(data.train) == 2 and "hallo" in data.tgt_vocab.stoi


def test_load_pairs_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no parallel-text file"):
        load_pairs(tmp_path / "missing.tsv")
    (tmp_path / "empty.tsv").write_text("\n\n")
    with pytest.raises(ValueError, match="holds no sentence pairs"):
        load_pairs(tmp_path / "empty.tsv")
    (tmp_path / "bad.tsv").write_text("a\tb\nno tab here\n")
    with pytest.raises(ValueError, match="line 2: expected source<TAB>target"):
        load_pairs(tmp_path / "bad.tsv")


def test_collate_pads_shifts_and_masks():
    batch = collate([([5, 6, 7], [8, 9]), ([5], [8, 9, 10, 11])], pad_id=0, bos_id=1, eos_id=2)
    assert batch.src.tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch.tgt_in.tolist() == [[1, 8, 9, 0, 0], [1, 8, 9, 10, 11]]
    assert batch.tgt_out.tolist() == [[8, 9, 2, 0, 0], [8, 9, 10, 11, 2]]
    assert batch.n_tokens == 3 + 5
    assert batch.src_mask.shape == (2, 1, 1, 3) and batch.src_mask[1, 0, 0].tolist() == [True, False, False]
    assert batch.tgt_mask.shape == (2, 1, 5, 5)
    for b in range(2):
        real = batch.tgt_in[b] != 0
        expected = causal_mask(5) & real[None, :]
        assert torch.equal(batch.tgt_mask[b, 0], expected)


def test_loader_batches_are_reproducible_and_cover_the_data(data):
    ds = TranslationDataset(data.valid, data.src_vocab, data.tgt_vocab)
    first = [b.src for b in make_loader(ds, 64, shuffle=True, seed=0)]
    again = [b.src for b in make_loader(ds, 64, shuffle=True, seed=0)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert sum(len(b) for b in first) == len(ds) == 1000
    decoded = data.src_vocab.decode(ds[0][0])
    assert decoded == data.valid[0][0]


def test_dataset_drops_pairs_longer_than_max_len(data):
    ds = TranslationDataset(data.valid, data.src_vocab, data.tgt_vocab, max_len=8)
    assert 0 < len(ds) < 1000
    assert all(len(s) <= 8 and len(t) + 1 <= 8 for s, t in ds.items)


def test_motion_sentences_use_ni_and_all_stay_short():
    pairs = english_japanese_pairs(3000, seed=5)
    motion = [(en, ja) for en, ja in pairs if " to the " in en]
    assert 300 < len(motion) < 1200  # three verbs of fourteen
    for en, ja in motion:
        assert ja.split().count("ni") == 1 and "o" not in ja.split(), (en, ja)
        assert ja.split()[-1] in {"iku", "itta", "kuru", "kita", "kaeru", "kaetta"}
    assert min(len(en.split()) for en, _ in pairs) >= 4 and max(len(en.split()) for en, _ in pairs) <= 14


def english_noun_phrases(noun):
    """Every English noun phrase the grammar allows for `noun`, spelled out one by one."""
    table = ADJ_HUMAN if noun in HUMANS else ADJ_ANIMAL if noun in ANIMALS else ADJ_THING
    lists = [[]] + [[a] for a in table] + [[a, b] for a in table for b in table if ADJ_KIND[a] < ADJ_KIND[b]]
    phrases = set()
    for adjectives in lists:
        indefinite = "an" if (adjectives + [noun])[0][0] in "aeiou" else "a"
        phrases |= {noun_phrase(article, adjectives, noun)[0] for article in ("the", indefinite)}
    return phrases


def test_capacity_matches_a_count_of_spelled_out_phrases(data):
    n_phrases = {noun: len(english_noun_phrases(noun)) for noun in {**HUMANS, **ANIMALS, **THINGS}}
    # present: no time, today, every day; past: no time, today, yesterday; each with 8 places or none
    endings = 6 * 9
    expected = 0
    for _, _, _, _, subjects, objects in VERBS:
        for s in subjects:
            expected += n_phrases[s] * sum(n_phrases[o] for o in objects if o != s) * endings
    for _, _, _, _, subjects in MOTION_VERBS:
        expected += sum(n_phrases[s] for s in subjects) * 8 * 6  # 8 destinations, the same 6 times
    assert english_japanese_capacity() == expected
    # and the generator says nothing outside the spelled-out phrases
    horse_eats = [en for en, _ in data.train if en.startswith("the horse eats ")]
    food_phrases = set().union(*(english_noun_phrases(f) for f in ("apple", "banana", "fish", "cake")))
    for en in horse_eats:
        rest = en.removeprefix("the horse eats ").removesuffix(" today").removesuffix(" every day")
        for place in PLACES:
            rest = rest.removesuffix(" " + place)
        assert rest in food_phrases, en
    assert len(horse_eats) >= 5
