"""`stager ui` in a real headless Chromium over two real runs: table, filters, sorting, report, diff, cost."""

from __future__ import annotations

import pytest
from ui_world import CHANGED_FILE, chromium, make_runs_world, start_ui


@pytest.fixture(scope="module")
def runs_world(run_world_session, tmp_path_factory):
    """Two real runs on the session's emulator and gold image, in a ledger of their own."""
    return make_runs_world(tmp_path_factory.mktemp("ui-world"), run_world_session)


@pytest.fixture(scope="module")
def ui(runs_world):
    """The UI over the two runs' ledger; run A's runs folder holds its metrics."""
    with start_ui("--runs-dir", str(runs_world.runs_dir_a), env=runs_world.world.env()) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def _follow(browser, element) -> None:
    """Click ``element`` and wait for the page it leads to: a click returns before the new page is there."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = browser.find_element(By.TAG_NAME, "html")

    def left(driver) -> bool:
        try:
            old_page.is_enabled()
            return False
        except WebDriverException:  # stale; or, caught mid-navigation, Chromium's "does not belong to the document"
            return True

    element.click()
    wait = WebDriverWait(browser, 20)
    wait.until(left)
    wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def _listed(browser) -> list[str]:
    from selenium.webdriver.common.by import By

    return [row.get_attribute("data-run-id") for row in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")]


def test_the_table_lists_both_runs_and_the_form_filters_them(ui, runs_world, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(ui.url)
    assert _listed(browser) == [runs_world.run_b, runs_world.run_a]  # newest first
    assert browser.find_element(By.ID, "count").text.startswith("Runs 1–2 of 2")

    browser.find_element(By.NAME, "q").send_keys(runs_world.run_a)
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]"))
    assert _listed(browser) == [runs_world.run_a]
    assert f"q={runs_world.run_a}" in browser.current_url  # the filter is in the URL, done by the server

    browser.get(ui.url)
    Select(browser.find_element(By.NAME, "status")).select_by_visible_text("failed")
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]"))
    assert _listed(browser) == []
    assert "No runs match" in browser.find_element(By.ID, "count").text


def test_clicking_a_heading_sorts_and_clicking_again_reverses(ui, runs_world, browser):
    from selenium.webdriver.common.by import By

    browser.get(ui.url)  # newest first; a click on "created" shows oldest first
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "th[data-sort=created] a"))
    assert _listed(browser) == [runs_world.run_a, runs_world.run_b]
    assert "order=asc" in browser.current_url  # created is the default sort, so the URL names only the order
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "th[data-sort=created] a"))
    assert _listed(browser) == [runs_world.run_b, runs_world.run_a]


def test_a_runs_page_draws_its_loss_curve(ui, runs_world, browser):
    from selenium.webdriver.common.by import By

    browser.get(ui.url)
    _follow(browser, browser.find_element(By.LINK_TEXT, runs_world.run_a))
    assert runs_world.run_a in browser.title
    chart = browser.find_element(By.CSS_SELECTOR, 'svg.chart[data-title*="loss"]')
    line = chart.find_element(By.CSS_SELECTOR, "polyline.series")
    assert line.is_displayed()
    box = line.rect
    assert box["width"] > 0 and box["height"] > 0, box
    points = line.get_attribute("points").split()
    assert len(points) >= 2, points
    _follow(browser, browser.find_element(By.LINK_TEXT, "Runs"))  # the UI's navigation sits on the report
    assert len(_listed(browser)) == 2


def test_picking_two_runs_shows_the_changed_data_file(ui, runs_world, browser):
    from selenium.webdriver.common.by import By

    browser.get(ui.url)
    browser.find_element(By.CSS_SELECTOR, f'input[name=a][value="{runs_world.run_a}"]').click()
    browser.find_element(By.CSS_SELECTOR, f'input[name=b][value="{runs_world.run_b}"]').click()
    _follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/diff'] button[type=submit]"))
    files = browser.find_element(By.CSS_SELECTOR, "table.data-files")
    assert f"mnist/{CHANGED_FILE}" in files.text and "changed" in files.text
    assert "data.mnist.path" in browser.find_element(By.ID, "spec").find_element(By.XPATH, "following::table").text


def test_the_cost_page_draws_bars(ui, browser):
    from selenium.webdriver.common.by import By

    browser.get(ui.url)
    _follow(browser, browser.find_element(By.LINK_TEXT, "Cost"))
    _follow(browser, browser.find_element(By.LINK_TEXT, "pipeline"))
    assert "by=pipeline" in browser.current_url
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
    assert bars and all(bar.is_displayed() and bar.rect["height"] > 0 for bar in bars)
    assert {bar.get_attribute("data-label") for bar in bars} == {"mnist-test"}
    assert "mnist-test" in browser.find_element(By.CSS_SELECTOR, "table.cost").text
