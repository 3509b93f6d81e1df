;;; js-mode-typescript.el --- a .ts file in js-mode, with no :language-id  -*- lexical-binding: t -*-

;; Run by tests/tests/emacs.rs as
;;
;;   emacs --batch -Q -l tests/editors/emacs/js-mode-typescript.el
;;
;; with MESHLS_TEST_BIN, MESHLS_TEST_FILE (src/main.ts of a strict
;; TypeScript project) and MESHLS_TEST_RESULT, as fix-with-agent.el.
;;
;; Many Emacs users edit TypeScript in the built-in js-mode, and eglot
;; names a buffer's language after its major mode: this one arrives as
;; "js".  The configuration below is the shortest one a user writes, with
;; no :language-id; meshls must still route the file to TypeScript's
;; server by its extension.  The script opens the file, waits for
;; TypeScript's type error in Flymake, and shuts eglot down.
;;
;; Exit codes: 0 every step happened, 1 a step failed or timed out, 3
;; eglot could not be loaded.

;;; Code:

(load (expand-file-name "meshls-test.el" (file-name-directory load-file-name)) nil t)
(setq meshls-test-name "js-mode-typescript")

(add-to-list 'auto-mode-alist '("\\.ts\\'" . js-mode))
(add-to-list 'eglot-server-programs `(js-mode . (,(getenv "MESHLS_TEST_BIN"))))
(add-hook 'js-mode-hook #'eglot-ensure)

(defun meshls-test-run ()
  "Every step of the test, in order."
  (setq meshls-test-buffer (find-file (getenv "MESHLS_TEST_FILE")))
  (meshls-test-record 'major_mode (buffer-local-value 'major-mode meshls-test-buffer))
  (let* ((server (meshls-test-wait "eglot to connect"
                                   (lambda () (and eglot--managed-mode (eglot-current-server)))))
         (process (jsonrpc--process server)))
    (meshls-test-record 'server_name (plist-get (eglot--server-info server) :name))
    (meshls-test-record 'language_id (eglot--language-id server))
    (meshls-test-wait "TypeScript's type error in Flymake" #'meshls-test-type-error)
    (meshls-test-record 'diagnostics
                        (vconcat (mapcar #'cdr (meshls-test-flymake-texts))))
    (condition-case err
        (eglot-shutdown server nil 10)
      (error (meshls-test-record 'shutdown_error (format "%S" err))))
    (meshls-test-wait "the meshls process to end"
                      (lambda () (not (process-live-p process))))
    (meshls-test-record 'messages (vconcat (reverse meshls-test-messages)))))

(meshls-test-main #'meshls-test-run)

;;; js-mode-typescript.el ends here
