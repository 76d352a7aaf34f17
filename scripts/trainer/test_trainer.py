"""Unit tests of the trainer's data path (masking, truncation, packing) and its FLOP count, on SmolLM2-135M-Instruct's
real tokenizer and chat template (models/smollm2-135m-instruct, built by scripts/setup). Run by
test/unit/trainer-python.test.ts (so `npm test` runs them): `.venv-train/bin/python -m unittest scripts/trainer/test_trainer.py`.
"""
from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from base_models import resolve_base  # noqa: E402
from train_lora import encode, lora_train_flops, pack, packed_inputs, truncate  # noqa: E402

BASE = os.environ.get("DISTILLERY_TEST_BASE_MODEL", "smollm2-135m-instruct")


def load():
    from transformers import AutoTokenizer

    folder, _ = resolve_base(BASE)
    return folder, AutoTokenizer.from_pretrained(folder)


def labelled_runs(tok, ids, labels):
    """The decoded runs of consecutive labelled tokens."""
    runs, cur = [], []
    for t, l in zip(ids, labels):
        if l != -100:
            assert l == t
            cur.append(t)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


CONVERSATION = [
    {"role": "system", "content": "You answer customer questions."},
    {"role": "user", "content": "How do I cancel order 123?"},
    {"role": "assistant", "content": "Open Orders and choose Cancel."},
    {"role": "user", "content": "And get a refund?"},
    {"role": "assistant", "content": "The refund follows in 5 days."},
]


class Masking(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder, cls.tok = load()

    def test_the_real_template_is_used(self):
        self.assertIn("<|im_start|>", self.tok.chat_template)

    def test_multi_turn_trains_every_assistant_turn_and_nothing_else(self):
        ids, labels = encode(self.tok, CONVERSATION, 1024)
        self.assertEqual(labelled_runs(self.tok, ids, labels),
                         ["Open Orders and choose Cancel.<|im_end|>\n", "The refund follows in 5 days.<|im_end|>\n"])
        # the prompt side, generation prompts included, is never a label
        text = self.tok.decode([t for t, l in zip(ids, labels) if l == -100])
        self.assertIn("How do I cancel order 123?", text)
        self.assertIn("<|im_start|>assistant\n", text)
        self.assertNotIn("Open Orders", text)

    def test_tokens_are_those_of_the_rendered_conversation(self):
        ids, _ = encode(self.tok, CONVERSATION, 1024)
        full = self.tok.apply_chat_template(CONVERSATION, tokenize=False)
        self.assertEqual(self.tok.decode(ids), full)

    def test_default_system_prompt_of_the_template_stays_unlabelled(self):
        ids, labels = encode(self.tok, CONVERSATION[1:3], 1024)
        self.assertIn("SmolLM", self.tok.decode(ids))
        self.assertEqual(labelled_runs(self.tok, ids, labels), ["Open Orders and choose Cancel.<|im_end|>\n"])


class Truncation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder, cls.tok = load()

    def test_long_prompt_is_cut_from_the_left_keeping_answer_and_eos(self):
        long_user = "Please help. " + "My order number is 998877 and it is late. " * 40
        msgs = [{"role": "user", "content": long_user}, {"role": "assistant", "content": "I am sorry: it ships today."}]
        ids, labels = encode(self.tok, msgs, 96)
        self.assertEqual(len(ids), 96)
        self.assertEqual(labelled_runs(self.tok, ids, labels), ["I am sorry: it ships today.<|im_end|>\n"])
        self.assertIn(self.tok.convert_tokens_to_ids("<|im_end|>"), ids[-2:])  # the EOS is kept (and trained)
        self.assertNotIn("SmolLM", self.tok.decode(ids))  # the oldest text (the system turn) went first
        self.assertIn("<|im_start|>assistant\n", self.tok.decode(ids))

    def test_short_conversation_is_untouched(self):
        msgs = CONVERSATION[1:3]
        self.assertEqual(encode(self.tok, msgs, 4096), encode(self.tok, msgs, 100000))

    def test_only_the_last_answer_is_trained_after_a_cut(self):
        msgs = [CONVERSATION[0], {"role": "user", "content": "x " * 200}, CONVERSATION[2], CONVERSATION[3], CONVERSATION[4]]
        ids, labels = encode(self.tok, msgs, 40)
        self.assertEqual(labelled_runs(self.tok, ids, labels), ["The refund follows in 5 days.<|im_end|>\n"])

    def test_an_answer_that_leaves_no_room_for_its_prompt_is_left_out(self):
        msgs = [{"role": "user", "content": "Hi " * 30}, {"role": "assistant", "content": "word " * 200}]
        self.assertEqual(encode(self.tok, msgs, 64), ([], []))

    def test_truncate_rules_on_plain_lists(self):
        ids = list(range(10))
        labels = [-100] * 6 + [6, 7, 8, -100]
        self.assertEqual(truncate(ids, labels, (6, 9), 9), (ids[:9], labels[:9]))  # only the tail after the answer goes
        self.assertEqual(truncate(ids, labels, (6, 9), 6), ([3, 4, 5, 6, 7, 8], [-100, -100, -100, 6, 7, 8]))
        self.assertEqual(truncate(ids, labels, (6, 9), 4), ([5, 6, 7, 8], [-100, 6, 7, 8]))  # one prompt token is enough here
        self.assertEqual(truncate(ids, labels, (6, 9), 3), ([], []))  # never an answer without any prompt
        self.assertEqual(truncate(ids, labels, (6, 9), 8), ([1, 2, 3, 4, 5, 6, 7, 8], [-100] * 5 + [6, 7, 8]))


class Packing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder, cls.tok = load()

    def test_whole_examples_only_first_fit(self):
        a = ([1, 2, 3], [-100, 2, 3])
        b = ([4, 5, 6, 7], [-100, -100, 6, 7])
        c = ([8, 9], [8, 9])
        blocks = pack([a, b, c], 6)
        self.assertEqual(blocks, [([1, 2, 3, 8, 9], [-100, 2, 3, -100, 9], [3, 2]), ([4, 5, 6, 7], [-100, -100, 6, 7], [4])])
        for ids, labels, lengths in blocks:
            self.assertLessEqual(len(ids), 6)
            self.assertEqual(sum(lengths), len(ids))

    def test_mask_is_block_diagonal_and_causal_with_positions_per_example(self):
        import torch

        pos, mask = packed_inputs([[3, 2], [4]], 5, torch.float32)
        self.assertEqual(pos.tolist(), [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]])
        allowed = (mask[:, 0] == 0).int().tolist()
        self.assertEqual(allowed[0], [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]])
        self.assertEqual(allowed[1][4], [0, 0, 0, 0, 1])  # padding sees only itself
        self.assertEqual(mask.shape, (2, 1, 5, 5))

    def test_a_packed_block_gives_each_example_the_logits_it_has_alone(self):
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(self.folder, dtype=torch.float32).eval()
        x = encode(self.tok, CONVERSATION[1:3], 64)
        y = encode(self.tok, [{"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": "On its way."}], 64)
        (ids, _, lengths), = pack([x, y], 256)
        pos, mask = packed_inputs([lengths], len(ids), torch.float32)
        with torch.no_grad():
            packed = model(input_ids=torch.tensor([ids]), attention_mask=mask, position_ids=pos).logits[0]
            alone = [model(input_ids=torch.tensor([s[0]])).logits[0] for s in (x, y)]
        n = len(x[0])
        self.assertLess((packed[:n] - alone[0]).abs().max().item(), 1e-3)
        self.assertLess((packed[n:] - alone[1]).abs().max().item(), 1e-3)
        # and without the mask the second example would see the first: the test can tell the difference
        with torch.no_grad():
            leaky = model(input_ids=torch.tensor([ids])).logits[0]
        self.assertGreater((leaky[n:] - alone[1]).abs().max().item(), 1e-2)


class Flops(unittest.TestCase):
    def test_lora_counts_four_per_frozen_weight_six_per_adapter_weight_and_attention(self):
        shape = {"frozen_matmul": 1000, "lora": 10, "layers": 2, "attention_width": 8}
        # 100 tokens in two examples of 50: (4*1000 + 6*10) * 100 + 12 * 2 * 8 * (50^2 + 50^2)
        self.assertEqual(lora_train_flops(shape, 100, 5000), 406000 + 960000)
        self.assertLess(lora_train_flops(shape, 100, 0), 6 * 1010 * 100)  # below full fine-tuning's 6N


if __name__ == "__main__":
    unittest.main()
