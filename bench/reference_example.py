"""The standard PyTorch example (pytorch/examples, mnist/main.py), as a user runs it: the second
reference of bench_time_to_accuracy.py, kept out of the package on purpose.

Its network (two 3x3 convolutions of 32 and 64 filters, 2x2 max pooling, dropout 0.25, 128
hidden units, dropout 0.5), its optimizer (Adadelta at lr 1.0, the rate times 0.7 after every
epoch), its minibatches (64 for training, shuffled; 1,000 for testing), its normalisation
(ToTensor, then Normalize with MNIST's mean 0.1307 and deviation 0.3081, which users keep for
Fashion-MNIST too) and its loop: train an epoch, then test, 14 times. The images come through a
map-style Dataset and a DataLoader one by one, as torchvision's do; only the reading of the IDX
files is striate's (torchvision does not import beside this torch build).

Run as its own process, so that its start-up (imports, data) counts as it does for a user:

    python bench/reference_example.py --dataset fashion-mnist [--epochs 14] [--seed 1]

It prints one JSON object per line: {"started": unix time of its first training step}, then
{"epoch", "at": unix time, "test_accuracy"} after each epoch's test.
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

MEAN, STD = 0.1307, 0.3081      # the example's Normalize((0.1307,), (0.3081,))
BATCH, TEST_BATCH = 64, 1000
LR, GAMMA = 1.0, 0.7


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):                                   # (B, 1, 28, 28)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))       # (B, 64, 24, 24)
        x = self.dropout1(F.max_pool2d(x, 2)).flatten(1)    # (B, 9216)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


class Images(Dataset):
    """ToTensor + Normalize, one (1, 28, 28) uint8 image at a time."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = torch.from_numpy(self.images[index]).float() / 255.0
        return (image - MEAN) / STD, int(self.labels[index])


def train_epoch(model, loader, optimizer):
    model.train()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(images), labels)
        loss.backward()
        optimizer.step()


@torch.no_grad()
def test(model, loader) -> float:
    model.eval()
    correct = sum((model(images).argmax(1) == labels).sum().item() for images, labels in loader)
    return correct / len(loader.dataset)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=("mnist", "fashion-mnist"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)   # the example's default
    args = parser.parse_args(argv)
    from striate.data import load_dataset

    data = load_dataset(args.dataset, args.data_dir)
    torch.manual_seed(args.seed)
    train = DataLoader(Images(data.train.images, data.train.labels), batch_size=BATCH,
                       shuffle=True)
    tests = DataLoader(Images(data.test.images, data.test.labels), batch_size=TEST_BATCH)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=GAMMA)
    print(json.dumps({"started": time.time()}), flush=True)
    for epoch in range(1, args.epochs + 1):
        train_epoch(model, train, optimizer)
        accuracy = test(model, tests)
        schedule.step()
        print(json.dumps({"epoch": epoch, "at": time.time(), "test_accuracy": accuracy}),
              flush=True)


if __name__ == "__main__":
    main()
