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

(require 'cl-lib)
(require 'json)
(require 'subr-x)

(defconst meshls-test-timeout 60
  "Seconds any one step may take.  A guard against hangs, not a measure.")

(defconst meshls-test-fix-title "Fix with agent: Type 'number' is not assignable"
  "How the title of the code action the test picks begins.")

(defvar meshls-test-result nil
  "What was seen so far: an alist written to MESHLS_TEST_RESULT as JSON.")

(defvar meshls-test-buffer nil
  "The buffer of the TypeScript file.")

(defvar meshls-test-original nil
  "The buffer's text as the file was opened.")

(defvar meshls-test-messages nil
  "Every `window/showMessage' meshls sent, newest first.")

(defvar meshls-test-choose nil
  "When non-nil, answers the one `completing-read' the test expects.
A function: it gets the candidates and returns the one to pick.  Any
other prompt is an error: in batch Emacs it would read stdin and hang or
fail obscurely.")

;;; Reporting

(defun meshls-test-log (format-string &rest args)
  "Print a progress line to stderr."
  (princ (concat "[fix-with-agent] " (apply #'format format-string args) "\n")
         #'external-debugging-output))

(defun meshls-test-record (key value)
  "Record VALUE under KEY in the result."
  (setf (alist-get key meshls-test-result) value))

(defun meshls-test-write-result ()
  "Write the result file."
  (let ((json-encoding-pretty-print t))
    (with-temp-file (getenv "MESHLS_TEST_RESULT")
      (insert (json-encode (reverse meshls-test-result))))))

(defun meshls-test-buffer-tail (buffer-or-name chars)
  "The last CHARS characters of BUFFER-OR-NAME, or nil."
  (when-let ((buffer (get-buffer buffer-or-name)))
    (with-current-buffer buffer
      (buffer-substring-no-properties (max (point-min) (- (point-max) chars))
                                      (point-max)))))

(defun meshls-test-fail (format-string &rest args)
  "Record the failure, with eglot's logs, write the result and exit 1."
  (let ((why (apply #'format format-string args))
        (server (and (buffer-live-p meshls-test-buffer)
                     (with-current-buffer meshls-test-buffer
                       (eglot-current-server)))))
    (meshls-test-log "FAILED: %s" why)
    (meshls-test-record 'error why)
    (meshls-test-record 'messages (vconcat (reverse meshls-test-messages)))
    (when (buffer-live-p meshls-test-buffer)
      (meshls-test-record 'buffer_text
                          (with-current-buffer meshls-test-buffer
                            (buffer-substring-no-properties (point-min) (point-max)))))
    (when server
      ;; The JSON-RPC exchange and meshls's own log lines.
      (meshls-test-record 'events (meshls-test-buffer-tail
                                   (jsonrpc-events-buffer server) 20000))
      (meshls-test-record 'stderr (meshls-test-buffer-tail
                                   (jsonrpc-stderr-buffer server) 8000)))
    (meshls-test-write-result)
    (kill-emacs 1)))

;;; Being an interactive Emacs, in batch

(defun meshls-test-refuse-prompt (&rest args)
  "Fail loudly instead of prompting: nothing in this test should ask."
  (meshls-test-fail "an unexpected prompt: %S" args))

(dolist (prompt '(y-or-n-p yes-or-no-p read-string read-from-minibuffer
                           read-shell-command read-number))
  (advice-add prompt :override #'meshls-test-refuse-prompt))

(advice-add 'completing-read :override
            (lambda (prompt collection &rest _)
              (cond
               ;; meshls asks once whether to trust the workspace: this
               ;; user says not now, and its servers stay in safe mode.
               ((string-match-p "is not trusted" prompt)
                (meshls-test-record 'trust_question
                                    (vconcat (all-completions "" collection)))
                "Not now")
               (meshls-test-choose
                (funcall meshls-test-choose (all-completions "" collection)))
               (t (meshls-test-refuse-prompt prompt)))))

(defun meshls-test-idle ()
  "Run the one-shot idle timers, as Emacs does once the user stops typing.
Batch Emacs reads no input, so it never becomes idle by itself, yet eglot
sends `textDocument/didChange' and Flymake starts its checks from idle
timers.  Repeating idle timers (eldoc, show-paren) are left alone."
  (dolist (timer (copy-sequence timer-idle-list))
    (unless (timer--repeat-delay timer)
      (timer-event-handler timer))))

(defun meshls-test-tick ()
  "One turn of the command loop: what runs after a command, then idleness.
`eglot-ensure' connects and Flymake starts from `post-command-hook'."
  (with-current-buffer meshls-test-buffer
    (run-hooks 'post-command-hook)
    (meshls-test-idle))
  (accept-process-output nil 0.1))

(defun meshls-test-wait (what predicate)
  "Tick until PREDICATE returns non-nil, and return that; fail after the timeout.
WHAT names what is awaited, for the failure message."
  (meshls-test-log "waiting for %s" what)
  (let ((deadline (+ (float-time) meshls-test-timeout))
        (value nil))
    (while (not (setq value (with-current-buffer meshls-test-buffer
                              (funcall predicate))))
      (when (> (float-time) deadline)
        (meshls-test-fail "timed out after %s s waiting for %s"
                          meshls-test-timeout what))
      (meshls-test-tick))
    value))

;;; The user's configuration: this is what editors/emacs.md documents

(defun meshls-test-load-eglot ()
  "Load eglot: built in from Emacs 29, Debian's elpa-eglot package on 28.
-Q leaves the system's site-lisp (where Debian puts it) out of `load-path'."
  (unless (require 'eglot nil t)
    (require 'package)
    (setq package-directory-list '("/usr/share/emacs/site-lisp/elpa")
          package-user-dir (make-temp-file "meshls-test-elpa" t))
    (package-initialize)
    (unless (require 'eglot nil t)
      (princ "eglot is not installed: install Debian's emacs-nox and elpa-eglot (tests/run.sh does)\n"
             #'external-debugging-output)
      (kill-emacs 3))))

(meshls-test-load-eglot)

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

;; Running meshls's commands, as editors/emacs.md shows it.
(defun meshls-command (command &rest arguments)
  "Run meshls's COMMAND with ARGUMENTS."
  (eglot-execute-command (eglot--current-server-or-lose) command
                         (vconcat arguments)))

;; Keep every `window/showMessage' (eglot also prints them to stderr).
(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql window/showMessage)) &key message &allow-other-keys)
  (push message meshls-test-messages))

;;; The steps

(defun meshls-test-flymake-texts ()
  "The current buffer's Flymake diagnostics: (LINE . TEXT) each."
  (mapcar (lambda (diag)
            (cons (line-number-at-pos (flymake-diagnostic-beg diag))
                  (flymake-diagnostic-text diag)))
          (flymake-diagnostics)))

(defun meshls-test-type-error ()
  "TypeScript's \"not assignable\" diagnostic on line 1, from Flymake, or nil."
  (cl-find-if (lambda (diag)
                (and (= 1 (line-number-at-pos (flymake-diagnostic-beg diag)))
                     (string-match-p "not assignable" (flymake-diagnostic-text diag))))
              (flymake-diagnostics)))

(defun meshls-test-process-tree (pid)
  "PID and its descendant processes, as ((PID . COMMAND-LINE) ...)."
  (let ((children (make-hash-table)))
    (dolist (other (list-system-processes))
      (when-let ((ppid (alist-get 'ppid (process-attributes other))))
        (push other (gethash ppid children))))
    (cl-labels ((args (pid)
                  (let ((attributes (process-attributes pid)))
                    (or (alist-get 'args attributes) (alist-get 'comm attributes) "")))
                (below (parent)
                  (cl-loop for child in (gethash parent children)
                           collect (cons child (args child))
                           append (below child))))
      (cons (cons pid (args pid)) (below pid)))))

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

(condition-case err
    (progn
      (meshls-test-run)
      (meshls-test-write-result)
      (meshls-test-log "done")
      (kill-emacs 0))
  (error (meshls-test-fail "error: %S" err)))

;;; fix-with-agent.el ends here
