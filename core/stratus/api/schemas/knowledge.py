"""`/knowledge`: content, its status, search results and the knowledge configuration."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from stratus.api.schemas._common import RECORD, IsoTime, Object
from stratus.storage.records import ContentStatus


class ContentResponseSchema(BaseModel):
    """AgentOS' `ContentResponseSchema`: a piece of content in a knowledge base, and where its ingestion is."""

    model_config = RECORD

    id: str = Field(validation_alias="content_id")
    name: str | None = None
    description: str | None = None
    type: str | None = Field(default=None, validation_alias="content_type", description="Its media type")
    size: Annotated[str | None, BeforeValidator(lambda v: None if v is None else str(v))] = Field(
        default=None, description="Bytes"
    )
    linked_to: str | None = Field(default=None, validation_alias="knowledge_id", description="The knowledge base")
    metadata: Object = None
    access_count: int | None = None
    status: ContentStatus | None = None
    status_message: str | None = None
    created_at: IsoTime = None
    updated_at: IsoTime = None


class ContentStatusResponse(BaseModel):
    """AgentOS' `ContentStatusResponse`."""

    model_config = RECORD

    id: str | None = Field(default=None, validation_alias="content_id")
    status: ContentStatus
    status_message: Annotated[str, BeforeValidator(lambda v: v or "")] = ""


class VectorSearchResult(BaseModel):
    """AgentOS' `VectorSearchResult`: a passage a search found."""

    id: str | None = None
    content: str
    name: str | None = None
    meta_data: Object = None
    usage: Object = None
    reranking_score: float | None = Field(default=None, description="How well it answers the query")
    content_id: str | None = Field(default=None, description="The content it was cut from")
    content_origin: str | None = None
    size: int | None = Field(default=None, description="Characters")


class ReaderSchema(BaseModel):
    """AgentOS' `ReaderSchema`: a reader, and the content types it reads."""

    id: str
    name: str | None = None
    description: str | None = None
    chunkers: list[str] | None = None
    content_types: list[str] | None = None
    unavailable_content_types: dict[str, list[str]] | None = None


class ChunkerSchema(BaseModel):
    """AgentOS' `ChunkerSchema`."""

    key: str
    name: str | None = None
    description: str | None = None
    metadata: Object = None


class VectorDbSchema(BaseModel):
    """AgentOS' `VectorDbSchema`: a knowledge base's vector store, and the searches it runs."""

    id: str
    name: str | None = None
    description: str | None = None
    search_types: list[str] | None = None


class RemoteContentSourceSchema(BaseModel):
    """AgentOS' `RemoteContentSourceSchema`: a store content can be added from."""

    id: str
    name: str
    type: str = Field(description="s3, gcs, sharepoint, github, azureblob")
    metadata: Object = None
    prefix: str | None = None


class KnowledgeConfigResponse(BaseModel):
    """AgentOS' `ConfigResponseSchema` of `GET /knowledge/config`: the readers, chunkers and vector stores."""

    readers: dict[str, ReaderSchema] | None = None
    readersForType: dict[str, list[str]] | None = Field(default=None, description="Content type to reader ids")
    chunkers: dict[str, ChunkerSchema] | None = None
    filters: list[str] | None = Field(default=None, description="The metadata keys a search can filter on")
    vector_dbs: list[VectorDbSchema] | None = None
    remote_content_sources: list[RemoteContentSourceSchema] | None = None
    unavailable_readers: dict[str, dict[str, Any]] | None = None
    unavailable_chunkers: dict[str, dict[str, Any]] | None = None
