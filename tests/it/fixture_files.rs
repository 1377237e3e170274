//! The small lists of the fixture test, one per class of layout the reader must handle: title
//! blocks, code pages, category rows, split and merged headers, several sheets, tables side by
//! side, blank keys, variants, hidden sheets.

use std::path::{Path, PathBuf};

use crate::workbook::{SheetSpec, X, write};

fn csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes every fixture into `dir`.
pub fn write_all(dir: &Path) {
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode(
        "ООО \"Инструмент-Опт\";;;\r\nПрайс-лист от 01.11.2026;;;\r\n;;;\r\n\
         Артикул;Наименование;Цена, руб.;Остаток\r\n\
         A-001;Молоток слесарный 500 г;1 234,50;12\r\n\
         A-002;Отвертка крестовая PH2;89,90;150\r\n\
         A-003;Клещи переставные;\"2 345,00\";0\r\n\
         A-004;Уровень 60 см;;5\r\n\
         A-005;Рулетка 5 м;по запросу;3\r\n",
    );
    std::fs::write(dir.join("title_block_cp1251.csv"), cp1251).unwrap();
    csv(
        dir,
        "categories_bom.csv",
        "\u{feff}SKU,Product name,Unit price,Color\n\
         Power tools,,,\n\
         PT-1,Cordless drill 18V,129.99,blue\n\
         PT-2,Angle grinder,\"1,249.00\",green\n\
         SKU,Product name,Unit price,Color\n\
         Hand tools,,,\n\
         HT-1,Claw hammer,19.5,red\n\
         HT-2,Screwdriver set,$24.90,black\n\
         Total,,1423.39,\n",
    );
    csv(
        dir,
        "currencies.csv",
        "sku,name,price\nC1,Item one,$12.99\nC2,Item two,\"12,5 руб.\"\nC3,Item three,12.00 BYN\n\
         C4,Item four,\"€ 9,99\"\nC5,Item five,-5\nC6,Item six,abc\nC7,Item seven,0\nC8,Item eight,99999999999\n",
    );
    csv(
        dir,
        "no_sku.csv",
        "№,Наименование,Цена\n1,Молоток,350\n2,Отвертка,120\n3,Клещи,410\n4,молоток ,360\n",
    );
    csv(
        dir,
        "headerless.csv",
        "A-100,Молоток слесарный 500 г,350.00\nA-101,Отвертка крестовая PH2,120.50\n\
         A-102,Клещи переставные 250 мм,410.90\nA-103,Рулетка 5 м,199.99\n",
    );
    csv(dir, "empty.csv", "");
    csv(dir, "header_only.csv", "SKU,Name,Price\n");
    csv(
        dir,
        "duplicate_headers.csv",
        "SKU,Name,Price,Color,Color\nD1,Mug,3.50,white,blue\nD2,Cup,2.00,red,\n",
    );
    csv(
        dir,
        "ukrainian.tsv",
        "Артикул\tНайменування\tЦіна\tОд. вим.\nU-1\tМолоток\t150,00 грн\tшт\nU-2\tКліщі\t230,00 грн\tшт\n",
    );
    csv(
        dir,
        "multiline.csv",
        "Code|Description|Price\n\"X-1\"|\"Bolt M6,\nzinc plated\"|0.15\nX-2|Nut M6|0.05\n",
    );
    csv(dir, "no_price.csv", "SKU,Name,Color\nN1,Widget,red\nN2,Gadget,blue\n");

    // Read as a careful person would (each class of the issue, one fixture).
    csv(
        dir,
        "secondary_price.csv",
        "SKU;Name;Price;Retail price\nSP-1;Kettle;70000,00;80784,00\nSP-2;Toaster;90.00;100.00\n",
    );
    csv(
        dir,
        "two_line_header.csv",
        "Code,Name,Free stock,Dealer\n,,,price\nTL-1,Kettle,10,25\nTL-2,Toaster,5,40\n",
    );
    csv(
        dir,
        "unlabelled_key.csv",
        ",Name,Price\nUK-1,Kettle electric,25\nUK-2,Toaster,40\nUK-3,Mixer,30\n",
    );
    csv(
        dir,
        "unlabelled_name.csv",
        "Code,,Price\nUN-1,Kettle electric 2 l,25\nUN-2,Toaster with two slots,40\n",
    );
    csv(
        dir,
        "currency_header.csv",
        "Артикул;Наименование;€ без ПДВ\nCH-1;Молоток;12,50\nCH-2;Клещи;7,10\n",
    );
    csv(
        dir,
        "headerless_two_prices.csv",
        "Чайник электрический,2500,3000\nТостер,1800,2100\nМиксер,900,1100\nБлендер,1500,1900\n",
    );
    csv(
        dir,
        "group_subtotals.csv",
        "SKU,Name,Qty,Price,Total\n,Kitchen,30,,900\nGS-1,Kettle,10,25,250\nGS-2,Toaster,20,30,600\n",
    );
    csv(
        dir,
        "item_id.csv",
        "item_id,title,price\n1001,Mug,3\n1002,Mug,4\n1003,Mug,5\n1004,Cup,2\n1005,Plate,1\n",
    );
    csv(
        dir,
        "description.csv",
        "SKU,Description,Product name,Price\nDS-1,A kettle for the office with a long description,Kettle,25\n",
    );
    csv(
        dir,
        "equal_headers.csv",
        "Код,Артикул,Наименование,Цена\n10,EH-1,Молоток,350\n10,EH-2,Клещи,410\n,EH-3,Отвертка,120\n",
    );
    csv(
        dir,
        "side_by_side.csv",
        "Code,Name,Price,,Catalogue no,Name,Price\nSB-1,Kettle,25,,Z-9,Lamp,7\nSB-2,Toaster,40,,Z-8,Bulb,1\n,,,,Z-7,Shade,3\n",
    );
    csv(
        dir,
        "blank_keys.csv",
        "SKU,Name,Price\nBK-1,Hammer,3\n,Claw hammer,4\n'00777,Saw,5\n",
    );
    csv(
        dir,
        "variants.csv",
        "handle,title,price\nvmug,Mug,3\nvmug,,4\nvmug,,5\nvcup,Cup,2\n",
    );
    write(
        &dir.join("with_terms.xlsx"),
        &[
            SheetSpec {
                name: "Прайс",
                rows: vec![
                    vec![
                        X::Text("Артикул"),
                        X::Text("Наименование"),
                        X::Text("Ценовая группа"),
                        X::Text("Цена"),
                    ],
                    vec![X::Text("WT-1"), X::Text("Молоток"), X::Text("PG1"), X::Num(350.0)],
                    vec![X::Text("WT-2"), X::Text("Клещи"), X::Text("PG2"), X::Num(410.0)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Скидки",
                rows: vec![
                    vec![X::Text("Ценовая группа"), X::Text("Скидка, %")],
                    vec![X::Text("PG1"), X::Num(30.0)],
                    vec![X::Text("PG2"), X::Num(25.0)],
                    vec![X::Text("PG3"), X::Num(20.0)],
                    vec![X::Text("PG4"), X::Num(15.0)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Условия",
                rows: vec![
                    vec![X::Text("Условие"), X::Text("Значение")],
                    vec![X::Text("Минимальный заказ"), X::Num(5000.0)],
                    vec![X::Text("Отсрочка, дней"), X::Num(30.0)],
                    vec![X::Text("Доставка бесплатно от"), X::Num(10000.0)],
                    vec![X::Text("Скидка за объём, %"), X::Num(5.0)],
                ],
                merged: vec![],
            },
        ],
    );

    let merged = SheetSpec {
        name: "Прайс",
        rows: vec![
            vec![X::Text("Прайс-лист ООО «Ромашка»")],
            vec![
                X::Text("Код"),
                X::Text("Товар"),
                X::Text("Поступление"),
                X::Text("Цена"),
                X::Empty,
            ],
            vec![X::Empty, X::Empty, X::Empty, X::Text("Розница"), X::Text("Опт")],
            vec![
                X::Text("00123"),
                X::Text("Болт М6"),
                X::Date(46330.0),
                X::Num(12.0),
                X::Num(9.5),
            ],
            vec![
                X::Text("00124"),
                X::Text("Гайка М6"),
                X::Date(46331.0),
                X::Num(4.0),
                X::Num(3.1),
            ],
            vec![
                X::Num(125.0),
                X::Text("Шайба"),
                X::Empty,
                X::Num(1.0),
                X::Text("по запросу"),
            ],
        ],
        merged: vec!["D2:E2", "A2:A3", "B2:B3"],
    };
    write(&dir.join("merged_header.xlsx"), std::slice::from_ref(&merged));
    let full = std::fs::read(dir.join("merged_header.xlsx")).unwrap();
    std::fs::write(dir.join("truncated.xlsx"), &full[..full.len() / 2]).unwrap();
    write(
        &dir.join("two_sheets.xlsx"),
        &[
            SheetSpec {
                name: "Инструмент",
                rows: vec![
                    vec![X::Text("Артикул"), X::Text("Наименование"), X::Text("Цена")],
                    vec![X::Text("T-1"), X::Text("Молоток"), X::Num(350.0)],
                    vec![X::Text("T-2"), X::Text("Клещи"), X::Num(410.9)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Крепёж",
                rows: vec![
                    vec![X::Text("Артикул"), X::Text("Наименование"), X::Text("Цена")],
                    vec![X::Text("F-1"), X::Text("Болт"), X::Num(1.2)],
                ],
                merged: vec![],
            },
            SheetSpec {
                name: "Контакты",
                rows: vec![vec![X::Text("Звоните: +7 495 000-00-00")]],
                merged: vec![],
            },
        ],
    );
    // Alone, the second sheet would key on "Code" (its "Article" repeats); it keeps the
    // first sheet's key column.
    let sheet = |name, codes: [f64; 3], articles: [&'static str; 3]| SheetSpec {
        name,
        rows: std::iter::once(vec![
            X::Text("Code"),
            X::Text("Article"),
            X::Text("Name"),
            X::Text("Price"),
        ])
        .chain((0..3).map(|i| {
            vec![
                X::Num(codes[i]),
                X::Text(articles[i]),
                X::Text(["Kettle", "Toaster", "Lamp"][i]),
                X::Num(10.0 + i as f64),
            ]
        }))
        .collect(),
        merged: vec![],
    };
    write(
        &dir.join("same_header_sheets.xlsx"),
        &[
            sheet("EUR", [1.0, 1.0, 2.0], ["K-1", "K-2", "K-3"]),
            sheet("USD", [1.0, 2.0, 3.0], ["K-1", "K-2", "K-2"]),
        ],
    );
    csv(
        dir,
        "weight_bands.csv",
        "ID;Описание материала;12-39кг;40-199кг;от 200кг\n64;Лак акриловый;235;220;210\n65;Тонер;1260;1250;1240\n",
    );
}
