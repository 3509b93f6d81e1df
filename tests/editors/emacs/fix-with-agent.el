;;; fix-with-agent.el --- meshls in real Emacs with eglot: "Fix with agent" end to end  -*- lexical-binding: t -*-

;; Run by tests/tests/emacs.rs as
;;
;;   emacs --batch -Q -l tests/editors/emacs/fix-with-agent.el
;;
;; with these environment variables:
;;
;;   MESHLS_TEST_BIN     absolute path of the meshls binary
;;   MESHLS_TEST_FILE    the TypeScript file to open (src/main.ts, in a git
;;                       repository with a strict tsconfig.json)
;;   MESHLS_TEST_RESULT  where to write what was seen, as JSON
;;
;; PATH (typescript-language-server first), XDG_CONFIG_HOME (a user config
;; pointing the agent at a scripted model) and XDG_DATA_HOME reach meshls
;; through Emacs's own environment.
;;
;; It does what a user does: opens the file, lets `eglot-ensure' connect,
;; waits for TypeScript's type error in Flymake, runs M-x
;; eglot-code-actions and picks "Fix with agent: ...", waits for the
;; agent's edit to land in the buffer and for the error to go away, then
;; M-x eglot-shutdown.  The Rust test asserts on the result file.
;;
;; Exit codes: 0 every step happened (the result file says what was
;; seen), 1 a step failed or timed out (the result file and stderr say
;; which, and what was seen until then), 3 eglot could not be loaded.

;;; Code:

(load (expand-file-name "meshls-test.el" (file-name-directory load-file-name)) nil t)
(setq meshls-test-name "fix-with-agent")

(defconst meshls-test-fix-title "Fix with agent: Type 'number' is not assignable"
  "How the title of the code action the test picks begins.")

(defvar meshls-test-original nil
  "The buffer's text as the file was opened.")

;; Emacs 28 has no TypeScript mode of its own (29 has typescript-ts-mode),
;; so the test brings a bare one.
(define-derived-mode meshls-test-ts-mode prog-mode "TS"
  "A bare major mode for TypeScript files.")
(add-to-list 'auto-mode-alist '("\\.ts\\'" . meshls-test-ts-mode))

;; meshls for TypeScript buffers.  eglot would derive the language id
;; "meshls-test-ts" from the mode's name; :language-id says what it is.
(add-to-list 'eglot-server-programs
             `((meshls-test-ts-mode :language-id "typescript")
               . (,(getenv "MESHLS_TEST_BIN")
                  ;; Settings from the editor: the last configuration layer.
                  :initializationOptions (:agent (:max_steps 8)))))
(add-hook 'meshls-test-ts-mode-hook #'eglot-ensure)

;; The agent's edits arrive as server-initiated edits; eglot 1.9 asks
;; before applying them unless told not to.
(setq eglot-confirm-server-initiated-edits nil)

;;; The steps

(defun meshls-test-run ()
  "Every step of the test, in order."
  (let ((file (getenv "MESHLS_TEST_FILE")))
    (meshls-test-record 'emacs_version emacs-version)
    (meshls-test-record 'eglot_file (locate-library "eglot"))
    ;; Shown in the selected window, as C-x C-f does: Flymake starts
    ;; checking a buffer only once it is displayed.
    (setq meshls-test-buffer (find-file file))
    (setq meshls-test-original (with-current-buffer meshls-test-buffer (buffer-string)))
    (meshls-test-record 'major_mode (buffer-local-value 'major-mode meshls-test-buffer)))

  ;; 1. eglot-ensure connects (from the mode hook, after the command).
  (let* ((server (meshls-test-wait "eglot to connect"
                                   (lambda () (and eglot--managed-mode (eglot-current-server)))))
         (process (jsonrpc--process server)))
    (meshls-test-record 'server_name (plist-get (eglot--server-info server) :name))
    (meshls-test-record 'language_id (eglot--language-id server))
    (meshls-test-record 'server_pid (process-id process))

    ;; 2. TypeScript's error reaches Flymake through meshls.
    (meshls-test-wait "TypeScript's type error in Flymake" #'meshls-test-type-error)
    (meshls-test-record 'diagnostics_before
                        (vconcat (mapcar #'cdr (meshls-test-flymake-texts))))

    ;; meshls.status, asked quietly (as a mode line would): the servers
    ;; behind meshls, and nothing shown.
    (let ((status (with-current-buffer meshls-test-buffer
                    (meshls-command "meshls.status" '(:quiet t)))))
      (meshls-test-record 'status_servers
                          (vconcat (mapcar (lambda (server)
                                             (format "%s %s" (plist-get server :name)
                                                     (plist-get server :state)))
                                           (plist-get status :servers)))))

    ;; 3. M-x eglot-code-actions on the error, and pick "Fix with agent".
    (with-current-buffer meshls-test-buffer
      (goto-char (flymake-diagnostic-beg (meshls-test-type-error)))
      (let* ((offered nil)
             (meshls-test-choose
              (lambda (titles)
                (setq offered titles)
                (or (cl-find-if (lambda (title) (string-prefix-p meshls-test-fix-title title))
                                titles)
                    (meshls-test-fail "no \"%s...\" among the code actions %S"
                                      meshls-test-fix-title titles))))
             ;; A key, as after M-x in a terminal; a mouse event (or the
             ;; nil of batch Emacs) would make eglot pop up a menu.
             (last-nonmenu-event ?\r)
             (started (call-interactively #'eglot-code-actions)))
        (meshls-test-record 'actions (vconcat offered))
        (meshls-test-record 'run_started started)))

    ;; 4. The agent's edit lands in the buffer (it may have come while
    ;; eglot waited for the command's answer), its final answer is shown,
    ;; and the type error goes away.
    (meshls-test-wait "the agent's edit in the buffer"
                      (lambda () (not (equal (buffer-string) meshls-test-original))))
    (meshls-test-wait "the agent's answer (a window/showMessage)"
                      (lambda () (cl-find-if (lambda (m) (string-prefix-p "meshls agent" m))
                                             meshls-test-messages)))
    (meshls-test-wait "the type error to leave Flymake"
                      (lambda () (not (meshls-test-type-error))))
    (with-current-buffer meshls-test-buffer
      (meshls-test-record 'buffer_text (buffer-substring-no-properties (point-min) (point-max)))
      (meshls-test-record 'buffer_modified (buffer-modified-p))
      (meshls-test-record 'diagnostics_after
                          (vconcat (mapcar #'cdr (meshls-test-flymake-texts)))))

    ;; 5. M-x eglot-shutdown.  Before, note meshls's process tree (meshls
    ;; first), so that the Rust test can check none of it outlives the
    ;; editor.
    (meshls-test-record 'server_tree
                        (vconcat (mapcar (lambda (p) `((pid . ,(car p)) (args . ,(cdr p))))
                                         (meshls-test-process-tree (process-id process)))))
    (meshls-test-log "shutting down")
    ;; eglot waits 1.5 s for the shutdown answer by default; meshls first
    ;; shuts its language servers down.
    (condition-case err
        (eglot-shutdown server nil 10)
      ;; Recorded, not fatal: what is left running is checked either way.
      (error (meshls-test-record 'shutdown_error (format "%S" err))))
    (meshls-test-wait "the meshls process to end"
                      (lambda () (not (process-live-p process))))
    (meshls-test-record 'server_status (format "%s %s" (process-status process)
                                               (process-exit-status process)))
    (meshls-test-record 'messages (vconcat (reverse meshls-test-messages)))))

(meshls-test-main #'meshls-test-run)

;;; fix-with-agent.el ends here
