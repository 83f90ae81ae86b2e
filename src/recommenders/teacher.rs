//! A neural model's teacher: the deployed version of another model, whose scores the student
//! learns from (knowledge distillation).

use crate::models::cache;
use crate::pg::error::{invalid, SqlResult};
use mkt_core::ids::IdMap;
use mkt_core::interactions::Interactions;
use mkt_neural::Teacher;
use mkt_reco::Model;
use std::cell::RefCell;
use std::sync::Arc;

/// The deployed version of a neural model's teacher, with the student's users and items mapped
/// to the teacher's indices by id.
pub struct TeacherModel {
    model: Arc<Model>,
    users: Vec<Option<u32>>,
    items: Vec<Option<u32>>,
    scratch: RefCell<Vec<f32>>,
}

impl TeacherModel {
    pub fn load(name: &str, data: &Interactions) -> SqlResult<Self> {
        let (_, model) = cache::get(name)?;
        let map = |from: &IdMap, to: &IdMap| -> Vec<Option<u32>> {
            (0..from.len() as u32).map(|i| to.index_of(&from.id(i))).collect()
        };
        let users = map(&data.users, &model.users);
        let items = map(&data.items, &model.items);
        if users.iter().all(Option::is_none) || items.iter().all(Option::is_none) {
            return Err(invalid(format!(
                "teacher '{name}' knows none of the training data's {}",
                if users.iter().all(Option::is_none) { "users" } else { "items" }
            )));
        }
        Ok(TeacherModel { model, users, items, scratch: RefCell::new(Vec::new()) })
    }
}

impl Teacher for TeacherModel {
    fn scores(&self, user: u32, out: &mut [f32]) -> bool {
        let Some(tu) = self.users[user as usize] else {
            return false;
        };
        let mut buf = self.scratch.borrow_mut();
        self.model.score_all(Some(tu), &mut buf);
        for (o, t) in out.iter_mut().zip(&self.items) {
            *o = t.map_or(f32::NAN, |t| buf[t as usize]);
        }
        true
    }
}

