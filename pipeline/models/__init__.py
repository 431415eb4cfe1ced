"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from sqlalchemy.orm import configure_mappers

from pipeline.models.chunk import Chunk, Page
from pipeline.models.document import Document, Stage, Status
from pipeline.models.embedding import CachedEmbedding
from pipeline.models.event import Event

# Now, once, rather than lazily by whichever thread first queries: models built without a query
# (``Document.model_construct`` in ``pipeline.lifecycle``) need configured mappers.
configure_mappers()

__all__ = ["CachedEmbedding", "Chunk", "Document", "Event", "Page", "Stage", "Status"]
