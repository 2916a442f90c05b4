"""A bag-of-words classifier whose 100,000-word embedding table gets sparse gradients.

    python crates/adamant-py/examples/sparse_embedding.py    (from the repository's root)

``nn.EmbeddingBag(sparse=True)`` makes a sparse COO gradient listing the words of the batch
(uncoalesced, with repeats). One ``adamant.torch.Adam`` steps the whole model: the table
lazily (only the rows of the batch's words change, as ``torch.optim.SparseAdam`` would step
them, with no coalescing pass) and the dense classifier as ``torch.optim.Adam`` does.
The documents are synthetic: each of 4 topics favours its own 500 words among 100,000.
Prints the loss, the test accuracy and the share of the table each step touched.
"""

from __future__ import annotations

import argparse

import torch

import adamant.torch

VOCABULARY, TOPICS, TOPIC_WORDS, LENGTH = 100_000, 4, 500, 30


def documents(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` documents of ``LENGTH`` word ids: 15% from their topic's words, the rest from
    the whole vocabulary; and their topics."""
    topics = torch.randint(0, TOPICS, (n,), generator=generator)
    words = torch.randint(0, VOCABULARY, (n, LENGTH), generator=generator)
    favoured = torch.randint(0, TOPIC_WORDS, (n, LENGTH), generator=generator) + topics[:, None] * TOPIC_WORDS
    pick = torch.rand(n, LENGTH, generator=generator) < 0.15
    return torch.where(pick, favoured, words), topics


class BagOfWords(torch.nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.embedding = torch.nn.EmbeddingBag(VOCABULARY, width, mode="mean", sparse=True)
        self.classify = torch.nn.Linear(width, TOPICS)

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embedding(words))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    x_train, y_train = documents(8_000, generator)
    x_test, y_test = documents(2_000, generator)
    torch.manual_seed(0)
    model = BagOfWords()
    opt = adamant.torch.Adam(model.parameters(), lr=args.lr)  # lazy for the table, dense for the rest
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(x_train))
        total, touched = 0.0, 0.0
        for start in range(0, len(order), args.batch):
            i = order[start:start + args.batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x_train[i]), y_train[i])
            loss.backward()
            touched += x_train[i].unique().numel() / VOCABULARY
            opt.step()
            total += loss.item() * len(i)
        steps = (len(order) + args.batch - 1) // args.batch
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch}  loss {total / len(order):.4f}  test accuracy {accuracy:.2%}  "
              f"rows touched per step {touched / steps:.2%} of the table")


if __name__ == "__main__":
    main()
