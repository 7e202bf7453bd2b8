"""Tryton's web client (sao) in headless Chromium at 1400×900, driven the
way staff use it: log in, click through the menu, switch tabs, open a
record, fill a list's new row, press a button; every step waits for the
client to finish talking to the server and fails on an error dialog."""
from __future__ import annotations

import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from harness.web_client import CHROMEDRIVER, CHROMIUM

SIZE = (1400, 900)
# What sao shows when the server refuses or fails: errors, user errors
# and warnings (a UserError is a warning-dialog)
ERROR_DIALOGS = '.error-dialog, .warning-dialog, .user-warning-dialog'
ACTIVE_TAB = '#tabcontent > .tab-pane.active'
MENU_ROW = '#menu tbody > tr'


class WebClientError(AssertionError):
    "The web client showed an error dialog"


def chromium() -> webdriver.Chrome:
    "Debian's headless Chromium through its chromedriver, never a download"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ('--headless=new', '--no-sandbox',
            '--disable-dev-shm-usage', '--disable-gpu',
            f'--window-size={SIZE[0]},{SIZE[1]}', '--lang=en-US'):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)),
        options=options)


class WebClient:
    """One person's session of sao on `url` (the trytond serving it) and
    `database`; screenshots go to `pictures` when given"""

    def __init__(self, driver: webdriver.Chrome, url: str, database: str,
            pictures: Path | None = None, timeout: float = 30):
        self.driver = driver
        self.url, self.database = url, database
        self.pictures = pictures
        # Polled often: a step waits on the server several times
        # (sao redraws lists and charts as replies come: an element may
        # go stale between finding and reading it, then is found again)
        self.wait = WebDriverWait(driver, timeout, poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,))

    # Waiting and failing

    def idle(self) -> None:
        """Wait until no request to the server is running and no error
        dialog shows"""
        def settled(driver):
            self.check()
            return driver.execute_script(
                "return window.jQuery !== undefined && jQuery.active === 0 "
                "&& !jQuery('#processing').is(':visible')")
        self.wait.until(settled)
        # One more turn of sao's promises, which render after the reply
        time.sleep(0.1)
        self.check()

    def errors(self) -> list[str]:
        "The texts of the error dialogs showing"
        texts = []
        for dialog in self.driver.find_elements(By.CSS_SELECTOR,
                ERROR_DIALOGS):
            try:
                if dialog.is_displayed():
                    texts.append(dialog.text)
            except StaleElementReferenceException:
                continue
        return texts

    def check(self) -> None:
        if errors := self.errors():
            raise WebClientError('; '.join(errors))

    def visible(self, css: str, within: WebElement | None = None
            ) -> WebElement:
        return self.wait.until(ready.visibility_of_element_located(
                (By.CSS_SELECTOR, css)) if within is None else
            lambda _: next((e for e in within.find_elements(
                            By.CSS_SELECTOR, css) if e.is_displayed()),
                False))

    # Logging in

    def login(self, login: str, password: str) -> WebClient:
        self.driver.get(f'{self.url}/#{self.database}')
        self.visible('.login-dialog input#login').send_keys(login, Keys.ENTER)
        self.visible('.ask-dialog input[type=password]').send_keys(password)
        self.visible('.ask-dialog .btn-primary').click()
        self.wait.until(ready.presence_of_element_located(
                (By.CSS_SELECTOR, '#menu div.column-char')))
        self.idle()
        return self

    # The menu

    def _menu_rows(self) -> list[tuple[int, str, float, bool]]:
        """The menu's rows shown: (index, name, depth, has children), read
        in one call: a call per cell made a walk last minutes"""
        return self.driver.execute_script("""
            return Array.from(document.querySelectorAll(arguments[0])).map(
                (row, index) => {
                    const name = row.querySelector('div.column-char');
                    const expander = row.querySelector('span.expander');
                    const image = expander && expander.querySelector('img');
                    return [index, name ? name.getAttribute('title') : '',
                        image ? parseFloat(getComputedStyle(image).marginLeft)
                            || 0 : 0,
                        !!expander && getComputedStyle(expander).visibility
                            === 'visible'];
                });""", MENU_ROW)

    def _menu_row(self, index: int) -> WebElement:
        return self.driver.find_elements(By.CSS_SELECTOR, MENU_ROW)[index]

    def menu_entries(self, root: str) -> list[tuple[str, ...]]:
        """The paths of the entries under the top menu `root` that open
        something, every folder of it expanded by a click"""
        expanded: set[tuple[str, ...]] = set()
        while True:
            entries, folder = self._menu_tree(root, expanded)
            if folder is None:
                return entries
            path, index = folder
            self._menu_row(index).find_element(
                By.CSS_SELECTOR, 'span.expander').click()
            expanded.add(path)
            self.idle()

    def _menu_tree(self, root, expanded):
        """The leaves under root, and the first folder not expanded yet
        (its path and row index), if any"""
        entries, stack = [], []
        for index, name, depth, folder in self._menu_rows():
            while stack and stack[-1][1] >= depth:
                stack.pop()
            path = (*[n for n, _ in stack], name)
            stack.append((name, depth))
            if path[0] != root:
                continue
            if folder and path not in expanded:
                return entries, (path, index)
            if not folder:
                entries.append(path)
        return entries, None

    def open_menu(self, *path: str) -> WebElement:
        """Click through the menu to the entry at path (expanding its
        folders); the tab it opened"""
        tabs = len(self.driver.find_elements(By.CSS_SELECTOR, '#tablist li'))
        for depth in range(1, len(path) + 1):
            index = self._menu_index(path[:depth])
            if index is None:
                raise AssertionError(f"no menu entry {' > '.join(path)}")
            if depth < len(path):
                if self._menu_index(path[:depth + 1]) is None:
                    self._menu_row(index).find_element(
                        By.CSS_SELECTOR, 'span.expander').click()
                    self.idle()
            else:
                self._menu_row(index).find_element(
                    By.CSS_SELECTOR, 'div.column-char').click()
        self.wait.until(lambda d: len(d.find_elements(
                    By.CSS_SELECTOR, '#tablist li')) > tabs)
        self.idle()
        return self.tab()

    def _menu_index(self, path):
        "The index of the menu row shown at path, if shown"
        stack = []
        for index, name, depth, _ in self._menu_rows():
            while stack and stack[-1][1] >= depth:
                stack.pop()
            stack.append((name, depth))
            if tuple(n for n, _ in stack) == tuple(path):
                return index
        return None

    # Tabs, lists and forms

    def tab(self) -> WebElement:
        return self.visible(ACTIVE_TAB)

    def tab_title(self) -> str:
        return self.driver.find_element(By.CSS_SELECTOR,
            '#tablist li.active span[title]').get_attribute('title')

    def close_tab(self) -> None:
        self.driver.find_element(By.CSS_SELECTOR,
            '#tablist li.active button.close').click()
        self.idle()

    def close_tabs(self) -> None:
        while self.driver.find_elements(By.CSS_SELECTOR, '#tablist li'):
            self.close_tab()

    def domain_tab(self, name: str) -> None:
        "Pick a list's tab (Exceptions, All, ...) by the start of its name"
        for link in self.tab().find_elements(By.CSS_SELECTOR,
                '.nav-tabs a'):
            if link.text.strip().startswith(name):
                link.click()
                self.idle()
                return
        raise AssertionError(f"no tab {name!r} in {self.tab_title()}")

    def search(self, text: str) -> None:
        "Search the active tab's list, as typed in its Filters box"
        box = self.tab().find_element(By.CSS_SELECTOR,
            '.filter-box input[type="text"], .filter-box input')
        box.clear()
        box.send_keys(text, Keys.ENTER)
        self.idle()
        # The list is reloaded after the keystroke: wait for its rows
        self.wait.until(lambda _: (rows := self.rows()) and all(
                text.lower() in row.text.lower() for row in rows))

    def rows(self) -> list[WebElement]:
        "The rows the active tab's list shows"
        return [r for r in self.tab().find_elements(By.CSS_SELECTOR,
                '.treeview tbody > tr') if r.is_displayed()
            and r.find_elements(By.CSS_SELECTOR, 'td')]

    def headers(self) -> list[tuple[str, WebElement]]:
        "The active list's column headers shown, with their cells"
        return [(h.text.strip(), h) for h in self.tab().find_elements(
                By.CSS_SELECTOR, '.treeview thead th') if h.is_displayed()
            and h.text.strip()]

    def open_row(self, text: str) -> None:
        "Open the list's row showing text in its form"
        def cell(_):
            # On the cell showing it: a link in another cell opens its
            # record
            return next((c for r in self.rows() if text in r.text
                    for c in r.find_elements(By.CSS_SELECTOR, 'td')
                    if text in c.text), None)
        try:
            found = self.wait.until(cell)
        except TimeoutException:
            raise AssertionError(f"no row with {text!r} in "
                f"{self.tab_title()}: {[r.text for r in self.rows()]}"
                ) from None
        ActionChains(self.driver).double_click(found).perform()
        self.visible('.form', self.tab())
        self.idle()

    def press(self, label: str) -> None:
        "Press the form's button whose label is label"
        for button in self.tab().find_elements(By.CSS_SELECTOR,
                '.form button'):
            if button.is_displayed() and button.text.strip().lower() == (
                    label.lower()):
                button.click()
                self.idle()
                return
        shown = [b.text.strip() for b in self.tab().find_elements(
                By.CSS_SELECTOR, '.form button') if b.is_displayed()]
        raise AssertionError(
            f"no button {label!r} in {self.tab_title()}: {shown}")

    def toolbar(self, action: str) -> None:
        "A toolbar button by its id: new_, save, reload, switch_"
        self.tab().find_element(By.CSS_SELECTOR, f'button#{action}').click()
        self.idle()

    def type(self, *keys: str) -> None:
        "Type into whatever has the focus, as a person does"
        self.driver.switch_to.active_element.send_keys(*keys)

    def choose(self, text: str, shown: str) -> None:
        """Type text into the focused many2one, then pick `shown` from the
        completion it offers"""
        # A new row's field takes the focus once drawn
        self.wait.until(lambda driver:
            driver.switch_to.active_element.tag_name == 'input')
        self.type(text)
        try:
            item = self.wait.until(ready.element_to_be_clickable((By.XPATH,
                        '//ul[contains(@class, "dropdown-menu")]'
                        f'//span[normalize-space(text())="{shown}"]')))
        except TimeoutException:
            offered = [e.text for e in self.driver.find_elements(
                    By.CSS_SELECTOR, 'ul.dropdown-menu span')
                if e.is_displayed()]
            typed = self.driver.switch_to.active_element.get_attribute(
                'value')
            self.picture('failed-choice')
            raise AssertionError(f"{shown!r} is not offered for {text!r} "
                f"(the field holds {typed!r}); offered: {offered}") from None
        item.click()
        self.idle()

    def chart(self) -> WebElement:
        """Switch the active tab's views to its graph; the chart once
        billboard.js has drawn a series in it"""
        for _ in range(3):
            if self._shown('.graph'):
                break
            self.toolbar('switch_')
        return self.wait.until(lambda _: self._drawn_chart())

    def _shown(self, css):
        return any(e.is_displayed()
            for e in self.tab().find_elements(By.CSS_SELECTOR, css))

    def _drawn_chart(self) -> WebElement | None:
        try:
            for chart in self.tab().find_elements(By.CSS_SELECTOR,
                    '.graph svg'):
                series = chart.find_elements(By.CSS_SELECTOR,
                    'path.bb-line, path.bb-bar, path.bb-area')
                if chart.is_displayed() and any(
                        len(p.get_attribute('d') or '') > 10 for p in series):
                    return chart
        except StaleElementReferenceException:
            pass  # redrawn meanwhile: looked at again
        return None

    # Pictures

    def picture(self, name: str) -> None:
        if self.pictures is not None:
            self.pictures.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(self.pictures / f'{name}.png'))


def wait_for(predicate, timeout: float = 30, step: float = 0.3):
    "Poll predicate until it is true"
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutException("condition not met in time")
        time.sleep(step)
    return value
