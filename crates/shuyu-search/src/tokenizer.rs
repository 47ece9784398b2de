//! A tantivy tokenizer over jieba's search-mode segmentation: long words are also split into
//! their dictionary sub-words ("企业登记信息" → 企业, 登记, 信息, …), so a short query finds a long
//! name. Whitespace and punctuation are dropped.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

#[derive(Clone)]
pub struct ChineseTokenizer {
    // One dictionary for the process: cloning the analyzer per field never reloads it.
    jieba: &'static Jieba,
}

impl ChineseTokenizer {
    pub fn new() -> Self {
        Self { jieba: jieba() }
    }
}

impl Default for ChineseTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

pub struct ChineseTokenStream {
    tokens: Vec<Token>,
    next: usize,
    /// Returned before the first `advance`, so reading a token never panics.
    empty: Token,
}

impl Tokenizer for ChineseTokenizer {
    type TokenStream<'a> = ChineseTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ChineseTokenStream {
        let mut tokens = Vec::new();
        for (position, t) in self
            .jieba
            .cut_for_search(text, true)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .enumerate()
        {
            tokens.push(Token {
                offset_from: t.byte_start,
                offset_to: t.byte_end,
                position,
                text: t.word.to_string(),
                position_length: 1,
            });
        }
        ChineseTokenStream { tokens, next: 0, empty: Token::default() }
    }
}

impl TokenStream for ChineseTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        self.next.checked_sub(1).and_then(|i| self.tokens.get(i)).unwrap_or(&self.empty)
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1).and_then(|i| self.tokens.get_mut(i)) {
            Some(t) => t,
            None => &mut self.empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_mode_yields_sub_words() {
        let mut t = ChineseTokenizer::new();
        let mut s = t.token_stream("市场主体企业登记信息, Open Data");
        let mut words = Vec::new();
        while s.advance() {
            words.push(s.token().text.clone());
        }
        assert!(words.contains(&"企业".to_string()) && words.contains(&"登记".to_string()), "{words:?}");
        assert!(words.contains(&"Open".to_string()));
        assert!(!words.iter().any(|w| w.trim().is_empty() || w == ","));
    }
}
