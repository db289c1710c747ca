//! Token endpoints, department and user reads, and contact writes against the simulator.

use super::*;

#[tokio::test]
async fn app_tokens_come_from_both_token_endpoints() {
    let h = Harness::small().await;
    let c = client();
    let legacy = c
        .fetch_app_token(&h.app, TokenSource::Legacy)
        .await
        .unwrap();
    let v1 = c.fetch_app_token(&h.app, TokenSource::V1).await.unwrap();
    assert!(!legacy.token.is_empty() && legacy.expires_in_secs > 0);
    assert!(!v1.token.is_empty() && v1.expires_in_secs > 0);
    assert!(!format!("{legacy:?}").contains(legacy.token.expose()));

    let mut wrong = h.app.clone();
    wrong.app_secret = SecretString::new("not-the-secret");
    for source in [TokenSource::Legacy, TokenSource::V1] {
        let err = c.fetch_app_token(&wrong, source).await.unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert_eq!(err.kind(), &ErrorKind::InvalidCredentials, "{err}");
        assert!(!err.to_string().contains("not-the-secret"));
    }
}

#[tokio::test]
async fn department_reads_walk_the_whole_tree() {
    let h = Harness::small().await;
    let c = client();
    let org = h.org().await;
    let all: BTreeSet<u64> = org["depts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dept_id"].as_u64().unwrap())
        .filter(|&id| id != 1)
        .collect();

    let walked: Vec<_> = c
        .departments_under(&h.app, DeptId::ROOT)
        .try_collect()
        .await
        .unwrap();
    let walked_ids: BTreeSet<u64> = walked.iter().map(|d| d.id.get()).collect();
    assert_eq!(walked_ids, all);
    // Breadth-first: every parent is listed before its children.
    let mut seen = HashSet::from([1u64]);
    for d in &walked {
        assert!(seen.contains(&d.parent.unwrap().get()), "{d:?}");
        seen.insert(d.id.get());
    }

    let top = c.list_sub_departments(&h.app, DeptId::ROOT).await.unwrap();
    let top_ids = c
        .list_sub_department_ids(&h.app, DeptId::ROOT)
        .await
        .unwrap();
    assert_eq!(
        top.iter().map(|d| d.id).collect::<BTreeSet<_>>(),
        top_ids.into_iter().collect::<BTreeSet<_>>()
    );

    let deepest = walked.last().unwrap();
    let got = c.get_department(&h.app, deepest.id).await.unwrap();
    assert_eq!(got.name, deepest.name);
    assert_eq!(got.parent, deepest.parent);
    let parents = c.list_parent_departments(&h.app, deepest.id).await.unwrap();
    assert_eq!(parents.first(), Some(&deepest.id));
    assert_eq!(parents.last(), Some(&DeptId::ROOT));

    let missing = c
        .get_department(&h.app, dept(987_654_321))
        .await
        .unwrap_err();
    assert_eq!(missing.errcode(), Some(60003));
    assert_eq!(missing.kind(), &ErrorKind::NotFound);
}

#[tokio::test]
async fn user_reads_page_through_every_member() {
    let h = Harness::small().await;
    let c = client();
    let org = h.org().await;
    let users = org["users"].as_array().unwrap();

    // Every user, reached through the departments they are direct members of.
    let mut depts: Vec<u64> = vec![1];
    depts.extend(
        org["depts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["dept_id"].as_u64().unwrap()),
    );
    depts.sort_unstable();
    depts.dedup();
    let mut seen = BTreeSet::new();
    let mut biggest = (0usize, DeptId::ROOT);
    for id in depts {
        let members: Vec<_> = c.users(&h.app, dept(id)).try_collect().await.unwrap();
        let simple: Vec<_> = c
            .simple_users(&h.app, dept(id))
            .try_collect()
            .await
            .unwrap();
        let ids = c.list_user_ids(&h.app, dept(id)).await.unwrap();
        assert_eq!(members.len(), simple.len());
        assert_eq!(members.len(), ids.len());
        if members.len() > biggest.0 {
            biggest = (members.len(), dept(id));
        }
        seen.extend(members.into_iter().map(|u| u.userid.to_string()));
    }
    let expected: BTreeSet<String> = users
        .iter()
        .map(|u| u["userid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);

    // Small pages still reach the end, and cursors advance.
    let mut cursor = 0;
    let mut paged = 0;
    loop {
        let page = c
            .list_users_page(&h.app, biggest.1, cursor, 7)
            .await
            .unwrap();
        paged += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(paged, biggest.0);

    let sample = some_user_with_mobile(&org);
    let userid = DingUserId::parse(sample["userid"].as_str().unwrap()).unwrap();
    let user = c.get_user(&h.app, &userid).await.unwrap();
    assert_eq!(user.name, sample["name"].as_str().unwrap());
    assert_eq!(user.mobile.as_deref(), sample["mobile"].as_str());
    assert!(!user.dept_ids.is_empty());

    let by_mobile = c
        .user_id_by_mobile(&h.app, sample["mobile"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(by_mobile, userid);
    let by_union = c
        .user_by_unionid(&h.app, sample["unionid"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(by_union.userid, userid);
    let count = c.count_users(&h.app, false).await.unwrap();
    assert_eq!(count, users.len() as u64);

    let stranger = c
        .user_by_unionid(&h.app, "nosuchunionid")
        .await
        .unwrap_err();
    assert_eq!(stranger.kind(), &ErrorKind::NotFound);
}

#[tokio::test]
async fn writes_create_update_and_delete_departments_and_users() {
    let h = Harness::small().await;
    let c = client();
    let mut new_dept = NewDepartment {
        name: "客户端测试部".into(),
        parent: DeptId::ROOT,
        order: Some(5),
        source_identifier: Some("ext-42".into()),
    };
    let id = c.create_department(&h.app, &new_dept).await.unwrap();
    let again = c.create_department(&h.app, &new_dept).await.unwrap_err();
    assert_eq!(again.kind(), &ErrorKind::Conflict, "{again}");

    let mut patch = DepartmentPatch::new(id);
    patch.name = Some("客户端测试二部".into());
    c.update_department(&h.app, &patch).await.unwrap();
    let got = c.get_department(&h.app, id).await.unwrap();
    assert_eq!(got.name, "客户端测试二部");
    assert_eq!(got.source_identifier.as_deref(), Some("ext-42"));

    let mut user = NewUser::new("测试用户", "13912345678", vec![id]);
    user.userid = Some(DingUserId::parse("client-test-1").unwrap());
    user.email = Some("client-test-1@example.com".into());
    user.title = Some("工程师".into());
    let created = c.create_user(&h.app, &user).await.unwrap();
    assert_eq!(created.userid.as_str(), "client-test-1");
    let duplicate = c.create_user(&h.app, &user).await.unwrap_err();
    assert_eq!(duplicate.kind(), &ErrorKind::Conflict, "{duplicate}");

    let mut up = UserPatch::new(created.userid.clone());
    up.title = Some("高级工程师".into());
    up.dept_ids = Some(vec![id, DeptId::ROOT]);
    c.update_user(&h.app, &up).await.unwrap();
    let read = c.get_user(&h.app, &created.userid).await.unwrap();
    assert_eq!(read.title.as_deref(), Some("高级工程师"));
    assert_eq!(
        read.dept_ids.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([id, DeptId::ROOT])
    );

    // A department with members cannot go (60005); after the user leaves it can.
    let busy = c.delete_department(&h.app, id).await.unwrap_err();
    assert_eq!(busy.kind(), &ErrorKind::Rejected, "{busy}");
    c.delete_user(&h.app, &created.userid).await.unwrap();
    let gone = c.get_user(&h.app, &created.userid).await.unwrap_err();
    assert_eq!(gone.kind(), &ErrorKind::NotFound);
    c.delete_department(&h.app, id).await.unwrap();
    assert_eq!(
        c.get_department(&h.app, id).await.unwrap_err().errcode(),
        Some(60003)
    );

    new_dept.parent = dept(999_999);
    let orphan = c.create_department(&h.app, &new_dept).await.unwrap_err();
    assert!(!orphan.is_transient(), "{orphan}");
}
