"""Fine-tuning task families, by `task.type`."""

from bertjax.runs.families.classification import ClassificationFamily
from bertjax.runs.families.multiple_choice import MultipleChoiceFamily
from bertjax.runs.families.question_answering import QuestionAnsweringFamily
from bertjax.runs.families.token_classification import TokenClassificationFamily

FAMILIES = {
    "classification": ClassificationFamily,
    "regression": ClassificationFamily,
    "token_classification": TokenClassificationFamily,
    "question_answering": QuestionAnsweringFamily,
    "multiple_choice": MultipleChoiceFamily,
}

__all__ = ["FAMILIES"]
