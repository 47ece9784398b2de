//! Full-text search over the published catalogue (SPEC §1, issue 3 item 5): tantivy with a
//! Chinese tokenizer built on jieba's search-mode segmentation, so that "企业登记" finds
//! "市场主体企业登记信息" and English words match case-insensitively. Only published metadata is
//! indexed; the database stays the source of truth and the index is rebuilt from it at start.

mod tokenizer;

use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED, STRING,
};
use tantivy::tokenizer::{LowerCaser, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

pub use tokenizer::ChineseTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search query: {0}")]
    Query(#[from] tantivy::query::QueryParserError),
    #[error("search index lock poisoned")]
    Poisoned,
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// One published entry as the index sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryDoc {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Field names and descriptions, space separated.
    pub fields: String,
    pub tags: String,
    pub holder: String,
    pub industry: String,
    pub region: String,
    pub share_class: String,
    pub open_class: String,
    pub level: u64,
    pub update_frequency: String,
}

/// Filters: each given one must match exactly. `industry` matches the code or any code under it
/// (a section letter finds all its divisions).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    pub holder: Option<String>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub share_class: Option<String>,
    pub open_class: Option<String>,
    pub level: Option<u64>,
    pub update_frequency: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    pub total: usize,
    pub ids: Vec<String>,
}

struct Fields {
    id: Field,
    name: Field,
    description: Field,
    fields: Field,
    tags: Field,
    holder: Field,
    industry: Field,
    industry_prefixes: Field,
    region: Field,
    share_class: Field,
    open_class: Field,
    level: Field,
    update_frequency: Field,
}

pub struct CatalogueIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

impl std::fmt::Debug for CatalogueIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogueIndex").finish_non_exhaustive()
    }
}

const TOKENIZER: &str = "zh";

impl CatalogueIndex {
    /// An empty index in memory.
    pub fn in_memory() -> Result<Self> {
        let mut b = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let f = Fields {
            id: b.add_text_field("id", STRING | STORED),
            name: b.add_text_field("name", text.clone()),
            description: b.add_text_field("description", text.clone()),
            fields: b.add_text_field("fields", text.clone()),
            tags: b.add_text_field("tags", text),
            holder: b.add_text_field("holder", STRING),
            industry: b.add_text_field("industry", STRING),
            industry_prefixes: b.add_text_field("industry_prefixes", STRING),
            region: b.add_text_field("region", STRING),
            share_class: b.add_text_field("share_class", STRING),
            open_class: b.add_text_field("open_class", STRING),
            level: b.add_u64_field("level", INDEXED | FAST),
            update_frequency: b.add_text_field("update_frequency", STRING),
        };
        let index = Index::create_in_ram(b.build());
        index
            .tokenizers()
            .register(TOKENIZER, TextAnalyzer::builder(ChineseTokenizer::new()).filter(LowerCaser).build());
        let writer = index.writer_with_num_threads(1, 50_000_000)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(Self { index, reader, writer: Mutex::new(writer), f })
    }

    fn document(&self, d: &EntryDoc) -> TantivyDocument {
        let f = &self.f;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &d.id);
        doc.add_text(f.name, &d.name);
        doc.add_text(f.description, &d.description);
        doc.add_text(f.fields, &d.fields);
        doc.add_text(f.tags, &d.tags);
        doc.add_text(f.holder, &d.holder);
        doc.add_text(f.industry, &d.industry);
        // "L7212" is found by L, L72, L721 and L7212.
        for end in 1..=d.industry.len() {
            if let Some(prefix) = d.industry.get(..end) {
                doc.add_text(f.industry_prefixes, prefix);
            }
        }
        doc.add_text(f.region, &d.region);
        doc.add_text(f.share_class, &d.share_class);
        doc.add_text(f.open_class, &d.open_class);
        doc.add_u64(f.level, d.level);
        doc.add_text(f.update_frequency, &d.update_frequency);
        doc
    }

    /// Adds or replaces entries, then makes them searchable.
    pub fn upsert(&self, docs: &[EntryDoc]) -> Result<()> {
        let mut w = self.writer.lock().map_err(|_| SearchError::Poisoned)?;
        for d in docs {
            w.delete_term(Term::from_field_text(self.f.id, &d.id));
            w.add_document(self.document(d))?;
        }
        w.commit()?;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// Removes an entry (retired, or withdrawn from publication).
    pub fn remove(&self, id: &str) -> Result<()> {
        let mut w = self.writer.lock().map_err(|_| SearchError::Poisoned)?;
        w.delete_term(Term::from_field_text(self.f.id, id));
        w.commit()?;
        drop(w);
        self.reader.reload()?;
        Ok(())
    }

    /// The tantivy query for `q`: free text over names, descriptions, fields and tags (all
    /// words must occur), and every filter given.
    pub fn query(&self, q: &SearchQuery) -> Result<Box<dyn Query>> {
        let f = &self.f;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let text = q.text.trim();
        if !text.is_empty() {
            let mut parser = QueryParser::for_index(&self.index, vec![f.name, f.description, f.fields, f.tags]);
            parser.set_conjunction_by_default();
            parser.set_field_boost(f.name, 3.0);
            parser.set_field_boost(f.tags, 2.0);
            // Query syntax characters from the public are taken as words, never as operators.
            let (parsed, _errors) = parser.parse_query_lenient(text);
            clauses.push((Occur::Must, parsed));
        }
        let term = |field: Field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
        };
        for (field, value) in [
            (f.holder, &q.holder),
            (f.industry_prefixes, &q.industry),
            (f.region, &q.region),
            (f.share_class, &q.share_class),
            (f.open_class, &q.open_class),
            (f.update_frequency, &q.update_frequency),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                clauses.push((Occur::Must, term(field, v)));
            }
        }
        if let Some(level) = q.level {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(Term::from_field_u64(f.level, level), IndexRecordOption::Basic)),
            ));
        }
        Ok(match clauses.len() {
            0 => Box::new(AllQuery),
            _ => Box::new(BooleanQuery::new(clauses)),
        })
    }

    /// Runs a query; ids best first.
    pub fn search(&self, q: &SearchQuery) -> Result<Hits> {
        let query = self.query(q)?;
        self.run(query.as_ref(), q.limit.clamp(1, 200), q.offset)
    }

    /// Runs an already-built query: the benchmark's baseline, and `search`'s second half.
    pub fn run(&self, query: &dyn Query, limit: usize, offset: usize) -> Result<Hits> {
        let searcher = self.reader.searcher();
        let (top, total) =
            searcher.search(query, &(TopDocs::with_limit(limit).and_offset(offset).order_by_score(), Count))?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = doc.get_first(self.f.id).and_then(|v| v.as_str()) {
                ids.push(id.to_string());
            }
        }
        Ok(Hits { total, ids })
    }

    /// The engine alone: collects the top `limit` and the count for a prebuilt query, without
    /// reading any stored document. The benchmark's baseline.
    pub fn raw(&self, query: &dyn Query, limit: usize) -> Result<usize> {
        let searcher = self.reader.searcher();
        let (top, total) = searcher.search(query, &(TopDocs::with_limit(limit).order_by_score(), Count))?;
        Ok(top.len().min(total))
    }

    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, name: &str, industry: &str, open: &str) -> EntryDoc {
        EntryDoc {
            id: id.into(),
            name: name.into(),
            description: format!("{name}，按日更新"),
            fields: "uscc 统一社会信用代码 legal_rep 法定代表人".into(),
            tags: "Market Supervision".into(),
            holder: "org-1".into(),
            industry: industry.into(),
            region: "320200".into(),
            share_class: "unconditional".into(),
            open_class: open.into(),
            level: 3,
            update_frequency: "daily".into(),
        }
    }

    #[test]
    fn chinese_words_english_words_and_filters() {
        let idx = CatalogueIndex::in_memory().unwrap();
        idx.upsert(&[
            doc("a", "市场主体企业登记信息", "S92", "conditional"),
            doc("b", "公交车辆实时位置", "G54", "unconditional"),
            doc("c", "不动产登记信息", "S92", "not_allowed"),
        ])
        .unwrap();
        let q = |text: &str| SearchQuery { text: text.into(), limit: 10, ..Default::default() };
        assert_eq!(idx.search(&q("企业登记")).unwrap().ids, vec!["a"]);
        let both = idx.search(&q("登记")).unwrap();
        assert_eq!(both.total, 2);
        assert_eq!(idx.search(&q("market")).unwrap().total, 3, "English is case-insensitive");
        assert_eq!(idx.search(&q("法定代表人")).unwrap().total, 3, "field descriptions are searched");
        let mut filtered = q("登记");
        filtered.open_class = Some("conditional".into());
        assert_eq!(idx.search(&filtered).unwrap().ids, vec!["a"]);
        let mut section = q("");
        section.industry = Some("G".into());
        assert_eq!(idx.search(&section).unwrap().ids, vec!["b"]);
        // Operators typed by the public are words, not syntax errors.
        assert_eq!(idx.search(&q("登记 AND (")).unwrap().total, 2);
        idx.remove("a").unwrap();
        assert_eq!(idx.search(&q("企业登记")).unwrap().total, 0);
        // Replacing keeps one copy.
        idx.upsert(&[doc("b", "公交车辆实时位置", "G54", "unconditional")]).unwrap();
        assert_eq!(idx.len(), 2);
    }
}
