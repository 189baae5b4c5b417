"""The SDK's query languages, FetchXML and QueryExpression, as a front end of the query pipeline.

    FetchXML text ──parse.py──▶ ast.Fetch ◀──queryexpression.py── QueryExpression JSON
    ast.Fetch ──printer.py──▶ FetchXML text (BulkDelete stores its QuerySet so)
    ast.Fetch ──bind.py──▶ bound.BoundFetch ──query/compiler.py (compile_fetch)──▶ CompiledQuery

Both notations say the same things, so both parse to one tree and bind once. The Web API's
`?fetchXml=` and BulkDelete (`jobs/bulkdelete.py`) are its users.
"""

from .bind import FetchBinder
from .parse import from_element, parse_fetchxml
from .printer import to_fetchxml
from .queryexpression import parse_query_expression

__all__ = ["FetchBinder", "from_element", "parse_fetchxml", "parse_query_expression", "to_fetchxml"]
