"""Offline data sets: generated or shipped with a package, never downloaded."""


def load_digits_split(seed=0):
    """scikit-learn's 8x8 digits, standardised on the training split.

    Returns `(x_train, x_test, y_train, y_test)`: 1347 train and 450 test
    samples of 64 float32 features, stratified by class.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    features, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.25, random_state=seed, stratify=labels
    )
    scaler = StandardScaler().fit(x_train)
    return (
        scaler.transform(x_train).astype("float32"),
        scaler.transform(x_test).astype("float32"),
        y_train,
        y_test,
    )


def load_mnist1d():
    """MNIST-1D (Greydanus, 2020) with its default arguments, generated on this
    machine by the `mnist1d` package: `(x_train, x_test, y_train, y_test)`,
    4000 train and 1000 test sequences of 40 float32 features, 10 classes."""
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    return (
        data["x"].astype("float32"),
        data["x_test"].astype("float32"),
        data["y"],
        data["y_test"],
    )


def load_friedman1(num_features=10, num_train=5000, num_test=1000, seed=0):
    """scikit-learn's Friedman #1 regression, generated here: `y = 10 sin(pi
    x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, 1)`, the other
    `num_features - 5` inputs pure noise. Inputs and targets standardised on
    the training split: `(x_train, x_test, y_train, y_test)`, float32, targets
    of shape `(n, 1)`."""
    from sklearn.datasets import make_friedman1
    from sklearn.preprocessing import StandardScaler

    features, targets = make_friedman1(
        n_samples=num_train + num_test,
        n_features=num_features,
        noise=1.0,
        random_state=seed,
    )
    targets = targets[:, None]
    splits = []
    for values in (features, targets):
        scaler = StandardScaler().fit(values[:num_train])
        splits += [
            scaler.transform(values[:num_train]).astype("float32"),
            scaler.transform(values[num_train:]).astype("float32"),
        ]
    return tuple(splits)  # x_train, x_test, y_train, y_test
