"""Compile a stanc-generated model as two translation units at once, on two cores.

Most of a model's compile is the C++ front end instantiating Stan Math's templates for the
model's reverse-mode log density (the gradient NUTS calls); the rest (data reading, the double
log density, ``write_array``, ...) costs about as much again. :func:`split_source` rewrites
stanc's C++ into one file that compiles either way:

* with ``-DBAYESMM_TU_GRADIENT`` (the *gradient* unit): the four reverse-mode log densities of
  the model's base class, explicitly instantiated; every other member of the model class is a
  declaration only, so nothing else is instantiated there;
* with ``-DBAYESMM_TU_REST`` (the *rest*): everything else, as stanc wrote it, with the
  reverse-mode log densities declared only (the linker finds them in the gradient unit).

The model class derives from :data:`MODEL_BASE_HEADER`'s ``bayesmm::model_base_crtp`` instead
of Stan's ``stan::model::model_base_crtp``: the same virtual interface and the same calls into
the model's templated methods, except that the ``std::vector`` overloads copy into Eigen
vectors and call the Eigen overloads (one instantiation of each body per scalar type instead of
two; the values are the same). Anything :func:`split_source` does not recognise returns
``None`` and the model is built as one unit from stanc's own text.

Examples
--------
>>> split_source("int main() {}") is None
True
"""

from __future__ import annotations

import re

#: Written beside each model's C++ as ``bayesmm_model_base.hpp``.
MODEL_BASE_HEADER = r"""// bayesmm: a stand-in for stan::model::model_base_crtp
//
// The same virtual interface, adapted to the model's templated methods as Stan's is, with two
// differences that change no result:
//  * the std::vector overloads copy their arguments into Eigen vectors and call the Eigen
//    overloads, so each of the model's log_prob and write_array bodies is instantiated once
//    per scalar type and (propto, jacobian) pair, not twice (the int parameters, which Stan
//    programs never have, are ignored as stanc's own Eigen overloads ignore them);
//  * the member definitions come in two groups, so that the model can be compiled as two
//    translation units at once: BAYESMM_TU_GRADIENT defines the four reverse-mode log
//    densities (the model's gradient, most of the compile), BAYESMM_TU_REST the others; a file
//    that defines neither macro gets both groups (one translation unit).
#ifndef BAYESMM_MODEL_BASE_HPP
#define BAYESMM_MODEL_BASE_HPP

#include <stan/model/model_base.hpp>
#include <Eigen/Dense>
#include <ostream>
#include <vector>

#if defined(BAYESMM_TU_GRADIENT)
#define BAYESMM_DEFINE_GRADIENT
#elif defined(BAYESMM_TU_REST)
#define BAYESMM_DEFINE_REST
#else
#define BAYESMM_DEFINE_GRADIENT
#define BAYESMM_DEFINE_REST
#endif

namespace bayesmm {

template <typename M>
class model_base_crtp : public stan::model::model_base {
 public:
  using var_vector = Eigen::Matrix<stan::math::var, -1, 1>;

  explicit model_base_crtp(size_t num_params_r) : model_base(num_params_r) {}
  virtual ~model_base_crtp() {}

  double log_prob(Eigen::VectorXd& theta, std::ostream* msgs) const override;
  stan::math::var log_prob(var_vector& theta, std::ostream* msgs) const override;
  double log_prob_jacobian(Eigen::VectorXd& theta, std::ostream* msgs) const override;
  stan::math::var log_prob_jacobian(var_vector& theta, std::ostream* msgs) const override;
  double log_prob_propto(Eigen::VectorXd& theta, std::ostream* msgs) const override;
  stan::math::var log_prob_propto(var_vector& theta, std::ostream* msgs) const override;
  double log_prob_propto_jacobian(Eigen::VectorXd& theta, std::ostream* msgs) const override;
  stan::math::var log_prob_propto_jacobian(var_vector& theta,
                                           std::ostream* msgs) const override;

  void write_array(stan::rng_t& rng, Eigen::VectorXd& theta, Eigen::VectorXd& vars,
                   bool include_tparams = true, bool include_gqs = true,
                   std::ostream* msgs = 0) const override;
  void unconstrain_array(const Eigen::VectorXd& params_r_constrained, Eigen::VectorXd& params_r,
                         std::ostream* msgs = nullptr) const override;

  double log_prob(std::vector<double>& theta, std::vector<int>& theta_i,
                  std::ostream* msgs) const override;
  stan::math::var log_prob(std::vector<stan::math::var>& theta, std::vector<int>& theta_i,
                           std::ostream* msgs) const override;
  double log_prob_jacobian(std::vector<double>& theta, std::vector<int>& theta_i,
                           std::ostream* msgs) const override;
  stan::math::var log_prob_jacobian(std::vector<stan::math::var>& theta,
                                    std::vector<int>& theta_i,
                                    std::ostream* msgs) const override;
  double log_prob_propto(std::vector<double>& theta, std::vector<int>& theta_i,
                         std::ostream* msgs) const override;
  stan::math::var log_prob_propto(std::vector<stan::math::var>& theta,
                                  std::vector<int>& theta_i,
                                  std::ostream* msgs) const override;
  double log_prob_propto_jacobian(std::vector<double>& theta, std::vector<int>& theta_i,
                                  std::ostream* msgs) const override;
  stan::math::var log_prob_propto_jacobian(std::vector<stan::math::var>& theta,
                                           std::vector<int>& theta_i,
                                           std::ostream* msgs) const override;

  void write_array(stan::rng_t& rng, std::vector<double>& theta, std::vector<int>& theta_i,
                   std::vector<double>& vars, bool include_tparams = true,
                   bool include_gqs = true, std::ostream* msgs = 0) const override;
  void unconstrain_array(const std::vector<double>& params_r_constrained,
                         std::vector<double>& params_r,
                         std::ostream* msgs = nullptr) const override;
  void transform_inits(const stan::io::var_context& context, Eigen::VectorXd& params_r,
                       std::ostream* msgs) const override;

 private:
  const M& model() const { return *static_cast<const M*>(this); }
  static Eigen::VectorXd eigen(const std::vector<double>& theta) {
    return Eigen::Map<const Eigen::VectorXd>(theta.data(), theta.size());
  }
  static var_vector eigen(const std::vector<stan::math::var>& theta) {
    var_vector out(theta.size());
    for (size_t i = 0; i < theta.size(); ++i) out.coeffRef(i) = theta[i];
    return out;
  }
};

#ifdef BAYESMM_DEFINE_GRADIENT
template <typename M>
stan::math::var model_base_crtp<M>::log_prob(var_vector& theta, std::ostream* msgs) const {
  return model().template log_prob<false, false>(theta, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob_jacobian(var_vector& theta,
                                                      std::ostream* msgs) const {
  return model().template log_prob<false, true>(theta, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob_propto(var_vector& theta,
                                                    std::ostream* msgs) const {
  return model().template log_prob<true, false>(theta, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob_propto_jacobian(var_vector& theta,
                                                             std::ostream* msgs) const {
  return model().template log_prob<true, true>(theta, msgs);
}
#endif

#ifdef BAYESMM_DEFINE_REST
template <typename M>
double model_base_crtp<M>::log_prob(Eigen::VectorXd& theta, std::ostream* msgs) const {
  return model().template log_prob<false, false, double>(theta, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob_jacobian(Eigen::VectorXd& theta, std::ostream* msgs) const {
  return model().template log_prob<false, true>(theta, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob_propto(Eigen::VectorXd& theta, std::ostream* msgs) const {
  return model().template log_prob<true, false>(theta, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob_propto_jacobian(Eigen::VectorXd& theta,
                                                    std::ostream* msgs) const {
  return model().template log_prob<true, true>(theta, msgs);
}
template <typename M>
void model_base_crtp<M>::write_array(stan::rng_t& rng, Eigen::VectorXd& theta,
                                     Eigen::VectorXd& vars, bool include_tparams,
                                     bool include_gqs, std::ostream* msgs) const {
  model().write_array(rng, theta, vars, include_tparams, include_gqs, msgs);
}
template <typename M>
void model_base_crtp<M>::unconstrain_array(const Eigen::VectorXd& params_r_constrained,
                                           Eigen::VectorXd& params_r,
                                           std::ostream* msgs) const {
  model().unconstrain_array(params_r_constrained, params_r, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob(std::vector<double>& theta, std::vector<int>& theta_i,
                                    std::ostream* msgs) const {
  Eigen::VectorXd x = eigen(theta);
  return model_base_crtp::log_prob(x, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob(std::vector<stan::math::var>& theta,
                                             std::vector<int>& theta_i,
                                             std::ostream* msgs) const {
  var_vector x = eigen(theta);
  return model_base_crtp::log_prob(x, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob_jacobian(std::vector<double>& theta,
                                             std::vector<int>& theta_i,
                                             std::ostream* msgs) const {
  Eigen::VectorXd x = eigen(theta);
  return model_base_crtp::log_prob_jacobian(x, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob_jacobian(std::vector<stan::math::var>& theta,
                                                      std::vector<int>& theta_i,
                                                      std::ostream* msgs) const {
  var_vector x = eigen(theta);
  return model_base_crtp::log_prob_jacobian(x, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob_propto(std::vector<double>& theta,
                                           std::vector<int>& theta_i,
                                           std::ostream* msgs) const {
  Eigen::VectorXd x = eigen(theta);
  return model_base_crtp::log_prob_propto(x, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob_propto(std::vector<stan::math::var>& theta,
                                                    std::vector<int>& theta_i,
                                                    std::ostream* msgs) const {
  var_vector x = eigen(theta);
  return model_base_crtp::log_prob_propto(x, msgs);
}
template <typename M>
double model_base_crtp<M>::log_prob_propto_jacobian(std::vector<double>& theta,
                                                    std::vector<int>& theta_i,
                                                    std::ostream* msgs) const {
  Eigen::VectorXd x = eigen(theta);
  return model_base_crtp::log_prob_propto_jacobian(x, msgs);
}
template <typename M>
stan::math::var model_base_crtp<M>::log_prob_propto_jacobian(
    std::vector<stan::math::var>& theta, std::vector<int>& theta_i,
    std::ostream* msgs) const {
  var_vector x = eigen(theta);
  return model_base_crtp::log_prob_propto_jacobian(x, msgs);
}
template <typename M>
void model_base_crtp<M>::write_array(stan::rng_t& rng, std::vector<double>& theta,
                                     std::vector<int>& theta_i, std::vector<double>& vars,
                                     bool include_tparams, bool include_gqs,
                                     std::ostream* msgs) const {
  Eigen::VectorXd x = eigen(theta);
  Eigen::VectorXd out;
  model().write_array(rng, x, out, include_tparams, include_gqs, msgs);
  vars.assign(out.data(), out.data() + out.size());
}
template <typename M>
void model_base_crtp<M>::unconstrain_array(const std::vector<double>& params_r_constrained,
                                           std::vector<double>& params_r,
                                           std::ostream* msgs) const {
  model().unconstrain_array(params_r_constrained, params_r, msgs);
}
template <typename M>
void model_base_crtp<M>::transform_inits(const stan::io::var_context& context,
                                         Eigen::VectorXd& params_r, std::ostream* msgs) const {
  model().transform_inits(context, params_r, msgs);
}
#endif

}  // namespace bayesmm

#endif
"""

#: Names of the two units' macros, in build order (gradient first: it takes longer).
UNIT_MACROS: tuple[str, ...] = ("BAYESMM_TU_GRADIENT", "BAYESMM_TU_REST")

_LOG_PROBS = ("log_prob", "log_prob_jacobian", "log_prob_propto", "log_prob_propto_jacobian")


def _member_functions(lines: list[str], first: int) -> list[tuple[str, int, int, int]]:
    """(name, first line, line with the body's opening brace, closing line) of each member
    function of the model class whose body spans lines (stanc indents members by two spaces
    and closes each body with a line ``  }``)."""
    found, i = [], first + 1
    while i < len(lines) and lines[i] != "};":
        line = lines[i]
        member = line.startswith("  ") and not line.startswith("   ")
        if not member or line.startswith("  //") or line.strip() == "}" or line.endswith(";"):
            i += 1
            continue
        if "{" in line and line.rstrip().endswith("}"):  # one-line body
            i += 1
            continue
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith("{"):
            j += 1
        k = j
        while k < len(lines) and lines[k] != "  }":
            k += 1
        if k >= len(lines):
            return []
        head = re.sub(r"template\s*<.*?>\s*(?=inline|\w)", "", " ".join(lines[i : j + 1]))
        name = re.search(r"(~?\w+)\s*\(", head)
        if name is None:
            return []
        found.append((name.group(1), i, j, k))
        i = k + 1
    return found


def _declaration(head: list[str]) -> list[str]:
    """A member function's header lines turned into a declaration (no body, no mem-inits)."""
    head = list(head)
    if head[-1].strip().startswith(":"):  # a constructor's ": model_base_crtp(0) {"
        head = head[:-1]
        head[-1] = head[-1].rstrip() + ";"
    else:
        head[-1] = head[-1].rstrip()[:-1].rstrip() + ";"
    # not inline: the gradient unit's copy of the class's vtable may name it, and the rest
    # unit defines it
    return [re.sub(r"\binline\s+", "", line) for line in head]


def split_source(cpp: str) -> str | None:
    """stanc's C++ rewritten to compile as the gradient unit or the rest (module docstring);
    ``None`` where its layout is not the one expected."""
    lines = cpp.split("\n")
    include = "#include <stan/model/model_header.hpp>"
    classes = [i for i, line in enumerate(lines) if re.match(r"class model_\w+ final", line)]
    if (
        len(lines) < 3
        or lines[1] != include
        or len(classes) != 1
        or cpp.count("using stan::model::model_base_crtp;") != 1
        or cpp.count("stan::math::profile_map profiles__;") != 1
    ):
        return None
    name = re.match(r"class (model_\w+) final", lines[classes[0]]).group(1)
    members = _member_functions(lines, classes[0])
    log_prob_impls = [m for m in members if m[0] == "log_prob_impl"]
    # stanc's two log_prob_impl bodies: the double one, then the reverse-mode one
    if len(log_prob_impls) != 2 or "Reverse mode" not in lines[log_prob_impls[1][1] - 1]:
        return None
    keep = {log_prob_impls[1][1]} | {m[1] for m in members if m[0] == "log_prob"}
    for _, i, j, k in sorted((m for m in members if m[1] not in keep), key=lambda m: -m[1]):
        original = lines[i : k + 1]
        lines[i : k + 1] = [
            "#ifdef BAYESMM_TU_GRADIENT",
            *_declaration(lines[i : j + 1]),
            "#else",
            *original,
            "#endif",
        ]
    text = "\n".join(lines)
    text = text.replace("using stan::model::model_base_crtp;", "using bayesmm::model_base_crtp;")
    text = text.replace(
        "stan::math::profile_map profiles__;",
        "#ifdef BAYESMM_TU_GRADIENT\nextern stan::math::profile_map profiles__;\n#else\n"
        "stan::math::profile_map profiles__;\n#endif",
    )
    text = text.replace(include, f'{include}\n#include "bayesmm_model_base.hpp"', 1)
    model = f"{name}_namespace::{name}"
    var = "Eigen::Matrix<stan::math::var, -1, 1>&"
    instances = [
        f"template stan::math::var bayesmm::model_base_crtp<{model}>::{function}("
        f"{var}, std::ostream*) const;"
        for function in _LOG_PROBS
    ]
    gated_new_model = "#ifndef USING_R"
    if text.count(gated_new_model) != 1:
        return None
    text = text.replace(gated_new_model, "#if !defined(USING_R) && !defined(BAYESMM_TU_GRADIENT)")
    return "\n".join([text.rstrip(), "#ifdef BAYESMM_TU_GRADIENT", *instances, "#endif", ""])
