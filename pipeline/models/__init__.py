"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from pipeline.models.chunk import Chunk, Page
from pipeline.models.document import Document, Stage, Status
from pipeline.models.embedding import CachedEmbedding
from pipeline.models.event import Event

__all__ = ["CachedEmbedding", "Chunk", "Document", "Event", "Page", "Stage", "Status"]
