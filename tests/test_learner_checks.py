"""The scikit-learn estimator contract, checked by sklearn itself."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skralif import ActiveLearningClassifier
from skralif.nets import default_net

DEFAULTS = ActiveLearningClassifier(default_net(max_epochs=40), random_state=0)
NO_MISSING_MARKER = ActiveLearningClassifier(default_net(max_epochs=40), missing_label=None,
                                             random_state=0)


def expected_failed(estimator):
    """Expected failures with their reasons: only one, and only with the default marker."""
    if estimator.missing_label is None:
        return {}
    return {
        "check_classifiers_classes": (
            "it labels rows -1, the default `missing_label`: by design those rows are "
            "unlabeled. The same checks pass with `missing_label=None`."
        )
    }


@parametrize_with_checks([DEFAULTS, NO_MISSING_MARKER], expected_failed_checks=expected_failed)
def test_sklearn_contract(estimator, check):
    check(estimator)
